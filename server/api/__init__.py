"""The REST API: route table, handlers, validation, error envelope and OpenAPI document."""
