"""The QBank serving API: authoring, quiz delivery with the adaptive engine, the student page.

`create_app()` in `serving_api.main` builds the FastAPI application; run it with
`uvicorn --factory serving_api.main:create_app` (or `make api`).
"""
