"""A translation server and an interactive attention explorer: `nmt serve RUN_DIR...` (extra `nmt[serve]`).

engine.py    the one adapter to the translation and alignment code (attention, saliency, given targets)
users.py     one loaded model shared by the worker threads: readers together, a call that changes it alone
snapshots.py a run's saved checkpoints, loaded on demand (watching the alignment form)
batching.py  concurrent requests grouped into batched model calls, off the event loop, in two lanes
limits.py    what one request may ask for
app.py       the FastAPI app: JSON API, explorer page (static/), errors
server.py    uvicorn, started and stopped
"""
