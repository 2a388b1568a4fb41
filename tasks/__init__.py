"""Pure steps of the coopindex pipeline: DataFrames in, DataFrames out, no Prefect.

Each module holds one idea (loading raw files, membership, trade facts, one verb of the
index method, publishing); `flows/` wires them into Prefect flows.
"""
