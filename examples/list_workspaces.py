"""The user guide's Python example, pointed at this tenant.

MOLECULE_ORG_TOKEN: an org API key; MOLECULE_URL: the tenant (default http://127.0.0.1:8080).
Also answers the guide's question: "list my workspaces and tell me which ones are idle".
"""
import os

import requests

base = os.environ.get("MOLECULE_URL", "http://127.0.0.1:8080")
resp = requests.get(
    f"{base}/workspaces",
    headers={"Authorization": f"Bearer {os.environ['MOLECULE_ORG_TOKEN']}"},
)
resp.raise_for_status()
workspaces = resp.json()
print(workspaces)
print("idle:", [w["name"] for w in workspaces if w["idle"]])
