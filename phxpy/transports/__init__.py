"""aiohttp front-ends that move bytes between HTTP and a :class:`~phxpy.runtime.Session`."""
