#!/usr/bin/env python3
"""Recall@K of the recall service's fast search (its index, or its int8 scan) against
its exact search, over HTTP.

usage: serve_recall.py URL USERS_FILE K SEARCH [SEARCH ...]

For each user id of USERS_FILE (one a line) the service's model list with exact=true
is the reference. Each SEARCH is a number N, the list the index gives reading N lists
(nprobe=N), or "default", the list the service gives when the request names no
search (its int8 scan when started with --scan int8, its index at its own nprobe
with --index ivf). Recall@K is the share of the reference's items the other list
holds, averaged over the users. Prints one line per SEARCH: "nprobe N recall@K R
users U" or "search default recall@K R users U"."""
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
    searches = sys.argv[4:]
    with open(path) as f:
        users = [line.strip() for line in f if line.strip()]
    exact = lists(url, users, k, {"exact": True})
    for search in searches:
        extra = {} if search == "default" else {"nprobe": int(search)}
        got = lists(url, users, k, extra)
        rec = [len(set(a) & set(b)) / len(a) for a, b in zip(exact, got) if a]
        name = "search default" if search == "default" else "nprobe %d" % int(search)
        print("%s recall@%d %.4f users %d" % (name, k, sum(rec) / len(rec), len(rec)))


if __name__ == "__main__":
    main()
