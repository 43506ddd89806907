"""The review desk: a web page where people judge B images and spot-check A's (`skustudio review serve`).

Starlette + Jinja2 templates, served by uvicorn; it reads and writes the same review queue
(`skucore.publish.review.ReviewQueue`: SQLite or PostgreSQL) and store (local folder or S3) as the command line
and the pipeline. Modules: config (settings, credentials, the bind rule), app (routes and middleware), web (what
handlers share), pages_queue / pages_item / pages_more (the pages), media (image bytes), data (store reads),
publish_now (the backfill "publish now" launches).
"""
