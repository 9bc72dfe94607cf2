#!/usr/bin/env python3
# Prints the tables of docs/hit-ratio.md (summary, groups, every point,
# worst traces) from the outputs of the loop in its Commands section:
#   python3 docs/hit-ratio-tables.py /tmp/hr
# It reads NAME.json where present (full precision), else NAME.txt.
import sys, glob, os
D = sys.argv[1]
ORDER = ['arc_OLTP.lis','arc_P3.lis','arc_P2.lis','arc_P6.lis','lirs_loop.trace','lirs_gli.trace','lirs_cs.trace','lirs_cpp.trace','lirs_ps.trace','lirs_sprite.trace','lirs_multi1.trace','lirs_multi2.trace','lirs_multi3.trace','lirs_2_pools.trace','cache2k_orm-busy.trace','cache2k_orm-night.trace','cache2k_web07.trace','scarab-recs.trace','corda_vaultservice.trace','cloudphysics_w106.trace','libcachesim_cloudPhysicsIO.oracleGeneral.bin']
COLS = ['velo','otter','theine','ristretto','lru','clock','optimal']
PEERS = ['otter','theine','ristretto']
def parse(f):
    rows = {}; hdr = None
    for line in open(f):
        s = line.split()
        if s and s[0] == 'capacity' and hdr is None: hdr = s[1:]; continue
        if hdr and s and s[0].isdigit() and len(s) == len(hdr)+1:
            rows[int(s[0])] = dict(zip(hdr, map(float, s[1:])))
        elif hdr and rows and not s: break
    return rows
import json
def parsej(f):
    rows = {}
    for r in json.load(open(f))['results']:
        rows.setdefault(r['capacity'], {})[r['cache']] = r['hit_ratio_pct']
    return rows
T = {t: parsej(os.path.join(D, t+'.json')) if os.path.exists(os.path.join(D, t+'.json')) else parse(os.path.join(D, t+'.txt')) for t in ORDER}
def name(t): return 'cloudPhysicsIO (oracle)' if 'oracle' in t else t
pts = [(t,c,r) for t in ORDER for c,r in T[t].items()]
avg = lambda rs, k: sum(r[k] for r in rs)/len(rs)
allr = [r for _,_,r in pts]
print('| ' + ' | '.join(['velo','otter','theine','ristretto','LRU','CLOCK','optimal']) + ' |')
print('|' + '---:|'*7)
print('| ' + ' | '.join('%.2f' % avg(allr,k) for k in COLS) + ' |')
print()
G = [('ARC disk traces (OLTP, P2, P3, P6)', ORDER[:4]), ('LIRS loop and scan traces (loop, gli, cs, cpp, ps, multi1-3)', ['lirs_loop.trace','lirs_gli.trace','lirs_cs.trace','lirs_cpp.trace','lirs_ps.trace','lirs_multi1.trace','lirs_multi2.trace','lirs_multi3.trace']), ('the others (sprite, 2_pools, cache2k, scarab, corda, both CloudPhysics)', ['lirs_sprite.trace','lirs_2_pools.trace','cache2k_orm-busy.trace','cache2k_orm-night.trace','cache2k_web07.trace','scarab-recs.trace','corda_vaultservice.trace','cloudphysics_w106.trace','libcachesim_cloudPhysicsIO.oracleGeneral.bin'])]
print('| traces | points | velo | otter | theine | ristretto | LRU | CLOCK | optimal |')
print('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
for g, ts in G:
    rs = [r for t in ts for r in T[t].values()]
    print('| %s | %d | ' % (g, len(rs)) + ' | '.join('%.2f' % avg(rs,k) for k in COLS) + ' |')
print()
best = sum(1 for r in allr if r['velo'] >= max(r[p] for p in PEERS))
print('velo best of four at', best, 'of', len(allr), 'points')
print()
print('| trace | capacity | velo | otter | theine | ristretto | LRU | CLOCK | optimal | velo − best peer |')
print('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
for t,c,r in pts:
    b4 = max(r[k] for k in ['velo']+PEERS)
    cells = []
    for k in COLS:
        v = '%.2f' % r[k]
        if k in ['velo']+PEERS and round(r[k],2) == round(b4,2): v = '**%s**' % v
        cells.append(v)
    print('| %s | %d | %s | %+.2f |' % (name(t), c, ' | '.join(cells), r['velo'] - max(r[p] for p in PEERS)))
print()
gaps = []
for t in ORDER:
    rs = T[t]
    g = sum(max(r[p] for p in PEERS) - r['velo'] for r in rs.values())/len(rs)
    wc = max(rs, key=lambda c: max(rs[c][p] for p in PEERS) - rs[c]['velo'])
    r = rs[wc]; bp = max(PEERS, key=lambda p: r[p])
    gaps.append((g, t, '%d: %.2f vs %.2f (%s); optimal %.2f' % (wc, r['velo'], r[bp], bp, r['optimal'])))
gaps.sort(reverse=True)
print('| trace | best peer − velo, average | worst capacity: velo vs best peer |')
print('|---|---:|---|')
for g,t,w in gaps:
    print('| %s | %.2f | %s |' % (name(t).replace('.trace','').replace('.lis',''), g, w))
