#!/usr/bin/env python3
"""Recall@K of the recall service's index against its exact search, over HTTP.

usage: serve_recall.py URL USERS_FILE K NPROBE [NPROBE ...]

For each user id of USERS_FILE (one a line) the service's model list with exact=true
is the reference; for each NPROBE the list the index gives reading that many lists.
Recall@K is the share of the reference's items the index's list holds, averaged over
the users. Prints one line per NPROBE: "nprobe N recall@K R users U"."""
import json
import sys
import urllib.request

BATCH = 100


def lists(url, users, k, extra):
    out = []
    for i in range(0, len(users), BATCH):
        body = dict(users=users[i:i + BATCH], k=k, strategy="model", **extra)
        req = urllib.request.Request(url + "/v1/recall", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            doc = json.load(r)
        for res in doc["results"]:
            out.append([h["item"] for h in res["items"]])
    return out


def main():
    url, path, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
    probes = [int(a) for a in sys.argv[4:]]
    with open(path) as f:
        users = [line.strip() for line in f if line.strip()]
    exact = lists(url, users, k, {"exact": True})
    for nprobe in probes:
        got = lists(url, users, k, {"nprobe": nprobe})
        rec = [len(set(a) & set(b)) / len(a) for a, b in zip(exact, got) if a]
        print("nprobe %d recall@%d %.4f users %d" % (nprobe, k, sum(rec) / len(rec), len(rec)))


if __name__ == "__main__":
    main()
