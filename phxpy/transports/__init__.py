"""aiohttp front-ends that move bytes between HTTP and a
:class:`~phxpy.channel_server.Session`."""
