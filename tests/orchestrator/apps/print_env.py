"""Prints the database environment it was launched with, as JSON."""
import json
import os

print(json.dumps({k: v for k, v in os.environ.items()
                  if k.startswith(("SSDB", "SR_DB_TYPE", "SSKEYIN", "SSKEYOUT"))}), flush=True)
