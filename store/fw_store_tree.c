/*
 * fw_store_tree.c: merged call trees (flame graphs and diffs) from per-stack sums.
 *
 * Input is what a backend's query returns: rows of (stack id, value, count), any order, one set
 * per side (base and comparison for a diff). Each stack is a path in the dimension cache's trie;
 * the tree merges paths by function (or by frame, for line granularity), so two stacks that
 * differ only in line numbers share nodes at function granularity. A stack is resolved from its
 * deepest already-resolved ancestor down (memo per stack id), so every trie node is looked at
 * once per query however many stacks share it. Totals are then one backward pass (children
 * always come after their parent), and pruning keeps the max_nodes most important nodes, folding
 * the rest of each node's children into one "other" node so that totals stay exact at every level.
 * Ties in weight are broken by content (name, file, line, then the parent's order), never by
 * ids, so every backend draws the same graph from the same data.
 * Significance in a diff is a two-proportion z-test on sample counts, not on values.
 */
#include "fw_store_tree.h"
#include "fw_store_util.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t parent, key, first_child, next_sibling, nchild;
    int64_t self[2], total[2], cself[2], ctotal[2];
} fw_tree_node;

typedef struct {
    fw_tree_node *n;
    uint32_t len, cap;
    fw_map map;             /* (parent node, key) -> node */
    const fw_dims *c;
    int line;                  /* granularity: key is a frame id (1) or a function id (0) */
    uint32_t *memo;            /* stack id -> node, FW_STORE_NONE when not resolved yet */
    uint32_t *chain;
    size_t chain_cap;
} fw_tree;

typedef struct { uint32_t parent, key; } fw_tree_key;

static int fw_tree_node_eq(const void *ctx, uint32_t id, const void *key)
{
    const fw_tree *t = ctx;
    const fw_tree_key *k = key;
    return t->n[id].parent == k->parent && t->n[id].key == k->key;
}

static uint32_t fw_tree_child(fw_tree *t, uint32_t parent, uint32_t key)
{
    fw_tree_key k = {parent, key};
    uint64_t h = fw_hash_u64x2(parent, key);
    uint32_t id = fw_map_find(&t->map, h, fw_tree_node_eq, t, &k);
    if (id)
        return id;
    if (fw_array_reserve((void **)&t->n, sizeof *t->n, &t->cap, t->len))
        return FW_STORE_NONE;
    id = t->len++;
    fw_tree_node *n = &t->n[id];
    memset(n, 0, sizeof *n);
    n->parent = parent;
    n->key = key;
    n->next_sibling = t->n[parent].first_child;
    t->n[parent].first_child = id;
    t->n[parent].nchild++;
    if (fw_map_put(&t->map, h, id))
        return FW_STORE_NONE;
    return id;
}

static int fw_tree_init(fw_tree *t, const fw_dims *c, int line)
{
    memset(t, 0, sizeof *t);
    t->c = c;
    t->line = line;
    t->memo = malloc((size_t)c->st_n * sizeof *t->memo);
    if (!t->memo || fw_array_reserve((void **)&t->n, sizeof *t->n, &t->cap, 1))
        return -1;
    memset(t->memo, 0xff, (size_t)c->st_n * sizeof *t->memo);
    t->len = 1;   /* node 0 is the root */
    memset(&t->n[0], 0, sizeof t->n[0]);
    return 0;
}

static void fw_tree_free(fw_tree *t)
{
    free(t->n);
    free(t->memo);
    free(t->chain);
    fw_map_free(&t->map);
}

/* The tree node of a stack: resolves the unresolved part of its path from the deepest
 * resolved ancestor down, so each stack trie node is looked at once per query. */
static uint32_t fw_tree_resolve(fw_tree *t, uint32_t stack)
{
    const fw_dims *c = t->c;
    size_t depth = 0;
    uint32_t s = stack;
    while (s != 0 && t->memo[s] == FW_STORE_NONE) {
        if (s >= c->st_n || !c->st_frame[s] || depth > 1u << 20)
            return FW_STORE_NONE;   /* a stack the cache does not know: corrupt file */
        if (depth == t->chain_cap) {
            size_t ncap = t->chain_cap ? t->chain_cap * 2 : 256;
            uint32_t *nc = realloc(t->chain, ncap * sizeof *nc);
            if (!nc)
                return FW_STORE_NONE;
            t->chain = nc;
            t->chain_cap = ncap;
        }
        t->chain[depth++] = s;
        s = c->st_parent[s];
    }
    uint32_t node = s == 0 ? 0 : t->memo[s];
    while (depth > 0) {
        uint32_t x = t->chain[--depth];
        uint32_t fr = c->st_frame[x];
        if (fr >= c->fr_n)
            return FW_STORE_NONE;
        node = fw_tree_child(t, node, t->line ? fr : c->fr_func[fr]);
        if (node == FW_STORE_NONE)
            return FW_STORE_NONE;
        t->memo[x] = node;
    }
    return node;
}

static fw_store_status fw_tree_add(fw_tree *t, const fw_blk_rows *rows, int side)
{
    for (size_t i = 0; i < rows->n; i++) {
        uint32_t s = rows->v[i].stack;
        /* A stack the cache no longer has: retention deleted its blocks and the dimension GC the
         * stack after this query's snapshot began. Its rows are being deleted: skip them. */
        if (s >= t->c->st_n || !t->c->st_frame[s])
            continue;
        uint32_t n = fw_tree_resolve(t, s);
        if (n == FW_STORE_NONE)
            return FW_STORE_ERR_NOMEM;
        t->n[n].self[side] = fw_sat_add(t->n[n].self[side], rows->v[i].value);
        t->n[n].cself[side] = fw_sat_add(t->n[n].cself[side], rows->v[i].count);
    }
    return FW_STORE_OK;
}

/* Totals: children always have larger indexes than their parent, so one backward pass sums up. */
static void fw_tree_totals(fw_tree *t)
{
    for (uint32_t i = 0; i < t->len; i++)
        for (int k = 0; k < 2; k++) {
            t->n[i].total[k] = t->n[i].self[k];
            t->n[i].ctotal[k] = t->n[i].cself[k];
        }
    for (uint32_t i = t->len; i-- > 1;)
        for (int k = 0; k < 2; k++) {
            t->n[t->n[i].parent].total[k] = fw_sat_add(t->n[t->n[i].parent].total[k], t->n[i].total[k]);
            t->n[t->n[i].parent].ctotal[k] = fw_sat_add(t->n[t->n[i].parent].ctotal[k], t->n[i].ctotal[k]);
        }
}

/* One node of the pruned output. */
typedef struct {
    uint32_t tn;               /* tree node, FW_STORE_NONE for an "other" fold */
    int32_t parent, depth;
    int64_t total[2], self[2], ctotal[2], cself[2];
} fw_tree_out;

typedef struct {
    double score;
    uint32_t idx;
    uint32_t ord;     /* canonical order of the node (fw_tree_order): breaks ties in score */
} fw_tree_rank;

static int fw_tree_rank_cmp(const void *a, const void *b)
{
    const fw_tree_rank *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->ord < y->ord ? -1 : x->ord > y->ord;
}

/* Name, file and line a node's key stands for. */
static void fw_tree_key_text(const fw_tree *t, uint32_t key, const char **name, const char **file, int64_t *line)
{
    const fw_dims *c = t->c;
    uint32_t fn = key;
    *line = 0;
    if (t->line) {
        fn = key < c->fr_n ? c->fr_func[key] : 0;
        *line = key < c->fr_n ? c->fr_line[key] : 0;
    }
    *name = fn < c->fn_n && c->fn_name[fn] ? c->fn_name[fn] : "";
    *file = fn < c->fn_n && c->fn_file[fn] ? c->fn_file[fn] : "";
}

typedef struct {
    const fw_tree *t;
    const uint32_t *ord;
} fw_tree_order_ctx;

static int fw_tree_order_cmp(const void *a, const void *b, void *arg)
{
    const fw_tree_order_ctx *x = arg;
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    uint32_t pi = x->ord[x->t->n[i].parent], pj = x->ord[x->t->n[j].parent];
    if (pi != pj)
        return pi < pj ? -1 : 1;
    const char *ni, *fi, *nj, *fj;
    int64_t li, lj;
    fw_tree_key_text(x->t, x->t->n[i].key, &ni, &fi, &li);
    fw_tree_key_text(x->t, x->t->n[j].key, &nj, &fj, &lj);
    int c = strcmp(ni, nj);
    if (!c)
        c = strcmp(fi, fj);
    if (!c)
        c = li < lj ? -1 : li > lj;
    return c ? c : (i < j ? -1 : i > j);
}

/* A canonical order of the tree's nodes that depends only on their content: by depth, then by the
 * parent's order, then by (name, file, line). Ties in weight are broken by it, so that two stores
 * holding the same data (SQLite and ClickHouse, whose stack ids differ) draw the same graph. */
static int fw_tree_order(const fw_tree *t, uint32_t *ord)
{
    uint32_t *depth = malloc((size_t)t->len * sizeof *depth), *idx = malloc((size_t)t->len * sizeof *idx);
    uint32_t maxd = 0;
    if (!depth || !idx) {
        free(depth);
        free(idx);
        return -1;
    }
    depth[0] = 0;
    for (uint32_t i = 1; i < t->len; i++) {   /* a parent's index is below its children's */
        depth[i] = depth[t->n[i].parent] + 1;
        if (depth[i] > maxd)
            maxd = depth[i];
    }
    /* Counting sort by depth, then each level sorted with its parents' order known. */
    uint32_t *start = calloc((size_t)maxd + 2, sizeof *start);
    if (!start) {
        free(depth);
        free(idx);
        return -1;
    }
    for (uint32_t i = 0; i < t->len; i++)
        start[depth[i] + 1]++;
    for (uint32_t d = 1; d <= maxd + 1; d++)
        start[d] += start[d - 1];
    for (uint32_t i = 0; i < t->len; i++)
        idx[start[depth[i]]++] = i;
    fw_tree_order_ctx ctx = {t, ord};
    uint32_t lo = 0;
    for (uint32_t d = 0; d <= maxd; d++) {
        uint32_t hi = start[d];   /* after the fill, start[d] is the end of level d */
        if (d > 0 && hi - lo > 1)
            qsort_r(idx + lo, hi - lo, sizeof *idx, fw_tree_order_cmp, &ctx);
        for (uint32_t k = lo; k < hi; k++)
            ord[idx[k]] = k;
        lo = hi;
    }
    free(start);
    free(depth);
    free(idx);
    return 0;
}

typedef struct {
    fw_tree *t;
    uint32_t *ord;
    double *score;
    uint8_t *kept;
    uint32_t *unkept;     /* children not kept, per node */
    fw_tree_out *out;
    size_t nout, cap;
} fw_tree_pruner;

static int fw_tree_emit(fw_tree_pruner *p, uint32_t n, int32_t parent, int32_t depth)
{
    assert(p->nout < p->cap);
    int32_t me = (int32_t)p->nout++;
    fw_tree_node *tn = &p->t->n[n];
    fw_tree_out *o = &p->out[me];
    o->tn = n;
    o->parent = parent;
    o->depth = depth;
    for (int k = 0; k < 2; k++) {
        o->total[k] = tn->total[k];
        o->self[k] = tn->self[k];
        o->ctotal[k] = tn->ctotal[k];
        o->cself[k] = tn->cself[k];
    }
    size_t nk = 0;
    for (uint32_t c = tn->first_child; c; c = p->t->n[c].next_sibling)
        nk += p->kept[c];
    fw_tree_rank *kids = nk ? malloc(nk * sizeof *kids) : NULL;
    if (nk && !kids)
        return -1;
    nk = 0;
    for (uint32_t c = tn->first_child; c; c = p->t->n[c].next_sibling)
        if (p->kept[c] && kids)
            kids[nk++] = (fw_tree_rank){p->score[c], c, p->ord[c]};
    if (nk > 1)
        qsort(kids, nk, sizeof *kids, fw_tree_rank_cmp);
    int64_t rest[2] = {tn->total[0] - tn->self[0], tn->total[1] - tn->self[1]};
    int64_t crest[2] = {tn->ctotal[0] - tn->cself[0], tn->ctotal[1] - tn->cself[1]};
    for (size_t i = 0; i < nk; i++) {
        for (int k = 0; k < 2; k++) {
            rest[k] -= p->t->n[kids[i].idx].total[k];
            crest[k] -= p->t->n[kids[i].idx].ctotal[k];
        }
        if (fw_tree_emit(p, kids[i].idx, me, depth + 1)) {
            free(kids);
            return -1;
        }
    }
    free(kids);
    if (p->unkept[n]) {
        /* The children that did not fit, folded: totals stay exact at every level. */
        assert(p->nout < p->cap);
        fw_tree_out *f = &p->out[p->nout++];
        memset(f, 0, sizeof *f);
        f->tn = FW_STORE_NONE;
        f->parent = me;
        f->depth = depth + 1;
        for (int k = 0; k < 2; k++) {
            f->total[k] = f->self[k] = rest[k];
            f->ctotal[k] = f->cself[k] = crest[k];
        }
    }
    return 0;
}

/* Keeps the max_nodes most important nodes (root and "other" folds included). Importance is the
 * total (or, with two sides, the larger share), which never grows from parent to child, so taking
 * nodes in decreasing order always finds the parent already kept. */
static fw_store_status fw_tree_prune(fw_tree *t, int sides, size_t max_nodes, fw_tree_out **out, size_t *nout)
{
    if (max_nodes == 0)
        max_nodes = 1024;
    if (max_nodes < 2)
        max_nodes = 2;
    fw_tree_pruner p = {t, NULL, NULL, NULL, NULL, NULL, 0, 0};
    fw_tree_rank *order = malloc((size_t)t->len * sizeof *order);
    p.ord = malloc((size_t)t->len * sizeof *p.ord);
    p.score = malloc((size_t)t->len * sizeof *p.score);
    p.kept = calloc(t->len, 1);
    p.unkept = calloc(t->len, sizeof *p.unkept);
    p.cap = max_nodes + 1;
    p.out = malloc(p.cap * sizeof *p.out);
    fw_store_status st = FW_STORE_ERR_NOMEM;
    if (!order || !p.ord || !p.score || !p.kept || !p.unkept || !p.out || fw_tree_order(t, p.ord) != 0)
        goto done;
    double r0 = t->n[0].total[0] > 0 ? (double)t->n[0].total[0] : 1.0;
    double r1 = t->n[0].total[1] > 0 ? (double)t->n[0].total[1] : 1.0;
    for (uint32_t i = 0; i < t->len; i++) {
        double a = (double)t->n[i].total[0] / r0, b = (double)t->n[i].total[1] / r1;
        p.score[i] = sides == 1 ? (double)t->n[i].total[0] : (a > b ? a : b);
        order[i] = (fw_tree_rank){p.score[i], i, p.ord[i]};
        p.unkept[i] = t->n[i].nchild;
    }
    qsort(order + 1, t->len - 1, sizeof *order, fw_tree_rank_cmp);
    p.kept[0] = 1;
    size_t kept = 1, others = t->n[0].nchild ? 1 : 0;
    for (uint32_t j = 1; j < t->len; j++) {
        uint32_t n = order[j].idx, par = t->n[n].parent;
        if (!p.kept[par])
            continue;   /* ties can put a child before an equal parent: skip, still consistent */
        size_t no = others + (t->n[n].nchild ? 1 : 0) - (p.unkept[par] == 1 ? 1 : 0);
        if (kept + 1 + no > max_nodes)
            break;
        p.kept[n] = 1;
        p.unkept[par]--;
        kept++;
        others = no;
    }
    if (fw_tree_emit(&p, 0, -1, 0) == 0) {
        st = FW_STORE_OK;
        *out = p.out;
        *nout = p.nout;
        p.out = NULL;
    }
done:
    free(order);
    free(p.ord);
    free(p.score);
    free(p.kept);
    free(p.unkept);
    free(p.out);
    return st;
}

/* Name, file and line of an output node, copied (the cache may grow once the lock is released). */
static int fw_tree_node_names(const fw_tree *t, const fw_tree_out *o, char **name, char **file, int64_t *line)
{
    const fw_dims *c = t->c;
    const char *nm = "other", *fl = "";
    *line = 0;
    if (o->tn == 0) {
        nm = "total";
    } else if (o->tn != FW_STORE_NONE) {
        uint32_t key = t->n[o->tn].key, fn = key;
        if (t->line) {
            fn = key < c->fr_n ? c->fr_func[key] : 0;
            *line = key < c->fr_n ? c->fr_line[key] : 0;
        }
        nm = fn < c->fn_n && c->fn_name[fn] ? c->fn_name[fn] : "?";
        fl = fn < c->fn_n && c->fn_file[fn] ? c->fn_file[fn] : "";
    }
    *name = fw_store_strdup(nm);
    *file = fw_store_strdup(fl);
    return *name && *file ? 0 : -1;
}

/* Two-proportion z-test on sample counts: is the node's share of samples in cmp different from
 * its share in base by more than binomial sampling noise? */
static double fw_tree_ztest(int64_t b, int64_t nb, int64_t c, int64_t nc)
{
    if (nb <= 0 || nc <= 0)
        return 0.0;
    double p1 = (double)b / (double)nb, p2 = (double)c / (double)nc;
    double p = (double)(b + c) / (double)(nb + nc);
    double se = sqrt(p * (1.0 - p) * (1.0 / (double)nb + 1.0 / (double)nc));
    if (!(se > 0.0))
        return 0.0;
    return (p2 - p1) / se;
}

fw_store_status fw_tree_flame(const fw_dims *c, const fw_blk_rows *rows, const fw_store_tree_opts *opt,
                              fw_store_tree *out)
{
    fw_store_status st = FW_STORE_OK;
    fw_tree t;
    fw_tree_out *o = NULL;
    size_t no = 0;
    if (fw_tree_init(&t, c, opt->gran == FW_STORE_GRAN_LINE) != 0)
        st = FW_STORE_ERR_NOMEM;
    else
        st = fw_tree_add(&t, rows, 0);
    if (st == FW_STORE_OK) {
        fw_tree_totals(&t);
        st = fw_tree_prune(&t, 1, opt->max_nodes, &o, &no);
    }
    if (st == FW_STORE_OK) {
        out->nodes = calloc(no, sizeof *out->nodes);
        if (!out->nodes)
            st = FW_STORE_ERR_NOMEM;
    }
    for (size_t i = 0; st == FW_STORE_OK && i < no; i++) {
        fw_store_node *n = &out->nodes[i];
        out->nnodes = i + 1;
        if (fw_tree_node_names(&t, &o[i], &n->name, &n->file, &n->line))
            st = FW_STORE_ERR_NOMEM;
        n->parent = o[i].parent;
        n->depth = o[i].depth;
        n->is_other = o[i].tn == FW_STORE_NONE;
        n->total = o[i].total[0];
        n->self = o[i].self[0];
        n->count_total = o[i].ctotal[0];
        n->count_self = o[i].cself[0];
    }
    fw_tree_free(&t);
    free(o);
    return st;
}

fw_store_status fw_tree_diff(const fw_dims *c, const fw_blk_rows *rb, const fw_blk_rows *rc,
                             const fw_store_tree_opts *opt, fw_store_diff *out)
{
    fw_store_status st = FW_STORE_OK;
    fw_tree t;
    fw_tree_out *o = NULL;
    size_t no = 0;
    if (fw_tree_init(&t, c, opt->gran == FW_STORE_GRAN_LINE) != 0)
        st = FW_STORE_ERR_NOMEM;
    if (st == FW_STORE_OK)
        st = fw_tree_add(&t, rb, 0);
    if (st == FW_STORE_OK)
        st = fw_tree_add(&t, rc, 1);
    if (st == FW_STORE_OK) {
        fw_tree_totals(&t);
        st = fw_tree_prune(&t, 2, opt->max_nodes, &o, &no);
    }
    if (st == FW_STORE_OK) {
        out->nodes = calloc(no, sizeof *out->nodes);
        if (!out->nodes)
            st = FW_STORE_ERR_NOMEM;
    }
    for (size_t i = 0; st == FW_STORE_OK && i < no; i++) {
        fw_store_diff_node *n = &out->nodes[i];
        out->nnodes = i + 1;
        if (fw_tree_node_names(&t, &o[i], &n->name, &n->file, &n->line))
            st = FW_STORE_ERR_NOMEM;
        n->parent = o[i].parent;
        n->depth = o[i].depth;
        n->is_other = o[i].tn == FW_STORE_NONE;
        n->base_total = o[i].total[0];
        n->base_self = o[i].self[0];
        n->cmp_total = o[i].total[1];
        n->cmp_self = o[i].self[1];
        n->base_count = o[i].ctotal[0];
        n->cmp_count = o[i].ctotal[1];
        n->base_share = o[0].total[0] ? (double)o[i].total[0] / (double)o[0].total[0] : 0.0;
        n->cmp_share = o[0].total[1] ? (double)o[i].total[1] / (double)o[0].total[1] : 0.0;
        n->z = fw_tree_ztest(o[i].ctotal[0], o[0].ctotal[0], o[i].ctotal[1], o[0].ctotal[1]);
        n->significant = n->z >= FW_STORE_Z_SIGNIFICANT ? 1 : n->z <= -FW_STORE_Z_SIGNIFICANT ? -1 : 0;
    }
    fw_tree_free(&t);
    free(o);
    return st;
}
