"""Stored conversations and responses, shared across the three client APIs.

store.py     the storage interface and its SQLite implementation (own tables, never `usage`)
items.py     the neutral form (Responses API items) and its conversion to and from each format
service.py   the store off the event loop (one thread per worker) and the retention sweep
flow.py      the request-path hook: prepend history before the upstream call, save after
routes.py    GET/DELETE /v1/responses/{id} and /input_items
"""
