#!/usr/bin/env python3
"""Split a movielens-csv folder (ratings.csv + movies.csv) over the federation's sites.

bench/fed.sh calls this to build DEST/part1..N, each a movielens-csv folder a node reads:
the site's users' rows of ratings.csv (bytes as read, CRLF kept, header first) and the whole
movies.csv. Users are disjoint across sites; every user goes to exactly one site.

  users  users dealt round-robin in order of first appearance (the benchmark's original split)
  items  a skewed split: the catalogue is cut into groups (a movie's first genre in movies.csv,
         or items hashed into 4 x N buckets without genres), each group's items are spread over
         the sites by a Dirichlet(alpha) draw, and each user goes to the site holding most of
         their interactions; small alpha gives sites different parts of the catalogue; sites
         are numbered largest first
  sizes  sites of unequal size: users shuffled, then cut by the given shares (60/30/10 % for
         three sites; halving shares otherwise)

Deterministic for a given seed. Prints one line per part (users, ratings) and writes the same
to DEST/split.txt.
"""
import argparse
import csv
import hashlib
import io
import os
import random
import shutil
import sys


def read_ratings(path):
    """header line, and {user: [raw lines]} in order of first appearance"""
    with open(path, "rb") as f:
        header = f.readline()
        users = {}
        for line in f:
            if not line.strip():
                continue
            users.setdefault(line.split(b",", 1)[0], []).append(line)
    return header, users


def item_of(line):
    return line.split(b",", 2)[1].decode()


def item_groups(src, users, sites):
    """item -> group name: the first genre in movies.csv, or a hash bucket (items without
    genres, or without movies.csv)"""
    groups = {}
    movies = os.path.join(src, "movies.csv")
    if os.path.exists(movies):
        with open(movies, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["genres"]:  # an item without genres is grouped by hash below
                    groups[row["movieId"]] = row["genres"].split("|")[0]
    buckets = 4 * sites
    for lines in users.values():
        for line in lines:
            it = item_of(line)
            if it not in groups:
                h = int.from_bytes(hashlib.sha256(it.encode()).digest()[:8], "little")
                groups[it] = f"bucket{h % buckets}"
    return groups


def split_items(src, users, sites, alpha, rng):
    groups = item_groups(src, users, sites)
    site_of_group = {}
    for g in sorted(set(groups.values())):
        # Dirichlet(alpha, ..., alpha) from gammas, then each of the group's items drawn from it
        w = [rng.gammavariate(alpha, 1.0) for _ in range(sites)]
        t = sum(w) or 1.0
        site_of_group[g] = [x / t for x in w]
    site_of_item = {}
    for it in sorted(groups, key=lambda x: (len(x), x)):
        site_of_item[it] = rng.choices(range(sites), weights=site_of_group[groups[it]])[0]
    share = {}
    for u, lines in users.items():
        c = [0] * sites
        for line in lines:
            c[site_of_item[item_of(line)]] += 1
        share[u] = [x / len(lines) for x in c]
    part = {u: max(range(sites), key=lambda k: (s[k], -k)) for u, s in share.items()}
    # no site may be left small (under a quarter of an even share): it takes the users whose
    # interactions lean most towards its items, from the largest sites
    min_users = max(1, len(users) // (4 * sites))
    for k in range(sites):
        have = sum(1 for p in part.values() if p == k)
        for u in sorted(users, key=lambda u: -share[u][k]):
            if have >= min_users:
                break
            if part[u] != k:
                counts = [sum(1 for p in part.values() if p == j) for j in range(sites)]
                if counts[part[u]] > min_users:
                    part[u] = k
                    have += 1
    # sites numbered largest first, so that a site's row in the value table is the same
    # kind of site (largest, middle, smallest) whatever the seed drew
    size = [sum(1 for p in part.values() if p == k) for k in range(sites)]
    rank = {k: r for r, k in enumerate(sorted(range(sites), key=lambda k: (-size[k], k)))}
    return {u: rank[p] for u, p in part.items()}


def split_sizes(users, shares, rng):
    order = list(users)
    rng.shuffle(order)
    total = sum(shares)
    part, start = {}, 0
    for k, s in enumerate(shares):
        end = len(order) if k == len(shares) - 1 else start + round(len(order) * s / total)
        for u in order[start:end]:
            part[u] = k
        start = end
    return part


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src")
    ap.add_argument("sites", type=int)
    ap.add_argument("dest")
    ap.add_argument("--split", choices=["users", "items", "sizes"], default="users")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--alpha", type=float, default=0.3, help="Dirichlet concentration (items)")
    ap.add_argument("--sizes", default="", help="shares of the sites, e.g. '60 30 10' (sizes)")
    a = ap.parse_args()
    if a.sites < 1:
        sys.exit("fed_split: sites must be at least 1")
    header, users = read_ratings(os.path.join(a.src, "ratings.csv"))
    if len(users) < a.sites:
        sys.exit(f"fed_split: {len(users)} users cannot fill {a.sites} sites")
    rng = random.Random(f"fed_split {a.split} {a.seed}")
    if a.split == "users":
        part = {u: n % a.sites for n, u in enumerate(users)}
    elif a.split == "items":
        if a.alpha <= 0:
            sys.exit(f"fed_split: alpha must be positive, not {a.alpha}")
        part = split_items(a.src, users, a.sites, a.alpha, rng)
    else:
        if a.sizes:
            shares = [float(x) for x in a.sizes.replace(",", " ").split()]
        elif a.sites == 3:
            shares = [60, 30, 10]
        else:
            shares = [2.0 ** -k for k in range(a.sites)]
        if len(shares) != a.sites or min(shares) <= 0:
            sys.exit(f"fed_split: sizes '{a.sizes}' must give {a.sites} positive shares")
        part = split_sizes(users, shares, rng)
    out = io.StringIO()
    for k in range(a.sites):
        d = os.path.join(a.dest, f"part{k + 1}")
        os.makedirs(d, exist_ok=True)
        movies = os.path.join(a.src, "movies.csv")
        if os.path.exists(movies):
            shutil.copyfile(movies, os.path.join(d, "movies.csv"))
        n_users = n_rows = 0
        with open(os.path.join(d, "ratings.csv"), "wb") as f:
            f.write(header)
            for u, lines in users.items():
                if part[u] == k:
                    n_users += 1
                    n_rows += len(lines)
                    f.writelines(lines)
        if n_users == 0:
            sys.exit(f"fed_split: part{k + 1} has no users")
        print(f"part{k + 1} {n_users} users {n_rows} ratings", file=out)
    with open(os.path.join(a.dest, "split.txt"), "w") as f:
        f.write(f"split {a.split} seed {a.seed}\n" + out.getvalue())
    sys.stdout.write(out.getvalue())


if __name__ == "__main__":
    main()
