"""The wire: botocore service models -> routes, request parsing and validation, responses."""
