/* plan.c: plan storage (init, append, insert, remove, find), the names of action kinds,
 * the shared pass that inserts sends and receives, and the text form (write, read).
 * Leaves out the generators (plan_gen.c) and the checker and simulator (plan_check.c). */
#include "plan/plan.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const char *act_names[PIPA_ACT_COUNT] = {
    "F", "B", "I", "W", "SEND_F", "RECV_F", "SEND_B", "RECV_B", "STEP",
};

const char *pipa_act_name(int kind)
{
    if (kind < 0 || kind >= PIPA_ACT_COUNT) return "?";
    return act_names[kind];
}

const char *pipa_place_name(int place) { return place == PIPA_PLACE_V ? "v" : "loop"; }

int pipa_act_is_busy(int kind)
{
    return kind == PIPA_ACT_F || kind == PIPA_ACT_B || kind == PIPA_ACT_I || kind == PIPA_ACT_W ||
           kind == PIPA_ACT_STEP;
}

/* ---- storage ---------------------------------------------------------------------------- */

/* "--pp 4096" for an option, "P = 0" for a letter. */
static const char *size_sep(const char *name) { return name[0] == '-' ? " " : " = "; }

pipa_status pipa_plan_check_size(int P, int M, int V, const char *const names[3])
{
    if (P < 1 || P > PIPA_PLAN_MAX_P)
        return pipa__fail(PIPA_ERR_ARG, "%s%s%d: a plan has 1 to %d ranks (pipeline stages)",
                          names[0], size_sep(names[0]), P, PIPA_PLAN_MAX_P);
    if (M < 1 || M > PIPA_PLAN_MAX_M)
        return pipa__fail(PIPA_ERR_ARG, "%s%s%d: a plan has 1 to %d microbatches", names[1],
                          size_sep(names[1]), M, PIPA_PLAN_MAX_M);
    if (V < 1 || V > PIPA_PLAN_MAX_V)
        return pipa__fail(PIPA_ERR_ARG, "%s%s%d: a plan has 1 to %d chunks per rank", names[2],
                          size_sep(names[2]), V, PIPA_PLAN_MAX_V);
    long long pmv = (long long)P * M * V;
    if (pmv > PIPA_PLAN_MAX_PMV)
        return pipa__fail(PIPA_ERR_ARG, "%s x %s x %s = %d x %d x %d = %lld (rank, microbatch, "
                          "chunk) triples: a plan has at most %d (the bound on its memory and time)",
                          names[0], names[1], names[2], P, M, V, pmv, PIPA_PLAN_MAX_PMV);
    return PIPA_OK;
}

pipa_status pipa_plan_init(pipa_plan_t *p, int P, int M, int V)
{
    static const char *const names[3] = {"P", "M", "V"};
    memset(p, 0, sizeof *p);
    if (pipa_plan_check_size(P, M, V, names) != PIPA_OK) {
        char why[256];   /* the message lives in the buffer pipa__fail writes */
        snprintf(why, sizeof why, "%s", pipa_last_error());
        return pipa__fail(PIPA_ERR_ARG, "plan: %s", why);
    }
    p->P = P;
    p->M = M;
    p->V = V;
    p->len = calloc((size_t)P, sizeof *p->len);
    p->cap = calloc((size_t)P, sizeof *p->cap);
    p->act = calloc((size_t)P, sizeof *p->act);
    if (!p->len || !p->cap || !p->act) {
        pipa_plan_free(p);
        return pipa__fail(PIPA_ERR_NOMEM, "plan: out of memory for %d ranks", P);
    }
    return PIPA_OK;
}

void pipa_plan_free(pipa_plan_t *p)
{
    if (p->act)
        for (int r = 0; r < p->P; r++) free(p->act[r]);
    free(p->act);
    free(p->len);
    free(p->cap);
    memset(p, 0, sizeof *p);
}

static pipa_status reserve(pipa_plan_t *p, int rank, int need)
{
    if (need <= p->cap[rank]) return PIPA_OK;
    int cap = p->cap[rank] ? p->cap[rank] : 16;
    while (cap < need) {
        if (cap > INT_MAX / 2) return pipa__fail(PIPA_ERR_NOMEM, "plan: rank %d list too long", rank);
        cap *= 2;
    }
    pipa_action_t *a = realloc(p->act[rank], (size_t)cap * sizeof *a);
    if (!a) return pipa__fail(PIPA_ERR_NOMEM, "plan: out of memory for rank %d's actions", rank);
    p->act[rank] = a;
    p->cap[rank] = cap;
    return PIPA_OK;
}

pipa_status pipa_plan_reserve(pipa_plan_t *p, int n)
{
    for (int r = 0; r < p->P; r++) PIPA_TRY(reserve(p, r, n));
    return PIPA_OK;
}

pipa_status pipa_plan_insert(pipa_plan_t *p, int rank, int at, int kind, int mb, int chunk)
{
    if (rank < 0 || rank >= p->P)
        return pipa__fail(PIPA_ERR_ARG, "plan: rank %d out of range 0..%d", rank, p->P - 1);
    if (kind < INT16_MIN || kind > INT16_MAX || chunk < INT16_MIN || chunk > INT16_MAX)
        return pipa__fail(PIPA_ERR_ARG, "plan: rank %d: kind %d or chunk %d beyond 16 bits", rank,
                          kind, chunk);
    if (kind < 0 || kind >= PIPA_ACT_COUNT)
        return pipa__fail(PIPA_ERR_ARG, "plan: rank %d: unknown action kind %d", rank, kind);
    if (at < 0 || at > p->len[rank])
        return pipa__fail(PIPA_ERR_ARG, "plan: rank %d: step %d out of range 0..%d", rank, at,
                          p->len[rank]);
    PIPA_TRY(reserve(p, rank, p->len[rank] + 1));
    pipa_action_t *a = p->act[rank];
    memmove(a + at + 1, a + at, (size_t)(p->len[rank] - at) * sizeof *a);
    a[at] = (pipa_action_t){.kind = (int16_t)kind, .chunk = (int16_t)chunk, .mb = mb};
    p->len[rank]++;
    return PIPA_OK;
}

pipa_status pipa_plan_append(pipa_plan_t *p, int rank, int kind, int mb, int chunk)
{
    if (rank < 0 || rank >= p->P)
        return pipa__fail(PIPA_ERR_ARG, "plan: rank %d out of range 0..%d", rank, p->P - 1);
    /* The generators' path, tens of millions of times at the limits: no memmove. */
    int n = p->len[rank];
    if (n < p->cap[rank] && kind >= 0 && kind < PIPA_ACT_COUNT && chunk >= INT16_MIN &&
        chunk <= INT16_MAX) {
        p->act[rank][n] = (pipa_action_t){.kind = (int16_t)kind, .chunk = (int16_t)chunk, .mb = mb};
        p->len[rank] = n + 1;
        return PIPA_OK;
    }
    return pipa_plan_insert(p, rank, n, kind, mb, chunk);
}

void pipa_plan_remove(pipa_plan_t *p, int rank, int at)
{
    PIPA_ASSERT(rank >= 0 && rank < p->P && at >= 0 && at < p->len[rank]);
    pipa_action_t *a = p->act[rank];
    memmove(a + at, a + at + 1, (size_t)(p->len[rank] - at - 1) * sizeof *a);
    p->len[rank]--;
}

int pipa_plan_find(const pipa_plan_t *p, int rank, int kind, int mb, int chunk)
{
    if (rank < 0 || rank >= p->P) return -1;
    for (int i = 0; i < p->len[rank]; i++) {
        const pipa_action_t *a = &p->act[rank][i];
        if (a->kind == kind && a->mb == mb && a->chunk == chunk) return i;
    }
    return -1;
}

/* ---- the shared communication pass ------------------------------------------------------ */

static int is_comm(int kind)
{
    return kind == PIPA_ACT_SEND_F || kind == PIPA_ACT_RECV_F || kind == PIPA_ACT_SEND_B ||
           kind == PIPA_ACT_RECV_B;
}

/* How many actions rank r's list old[0..n) holds once its messages are in: the exact size, so
 * that a plan at the limits carries no slack. */
static int comms_need(const pipa_plan_t *p, int r, const pipa_action_t *old, int n)
{
    int last = p->P * p->V - 1, need = 0;
    for (int i = 0; i < n; i++) {
        const pipa_action_t *a = &old[i];
        if (is_comm(a->kind)) continue;
        need++;
        if (a->chunk < 0 || a->chunk >= p->V) continue;
        int vs = pipa_vstage(p, r, a->chunk);
        int fwd = a->kind == PIPA_ACT_F, bwd = a->kind == PIPA_ACT_B || a->kind == PIPA_ACT_I;
        need += (fwd || bwd) * ((vs > 0) + (vs < last));
    }
    return need;
}

static pipa_status reserve_exact(pipa_plan_t *p, int rank, int need)
{
    pipa_action_t *a = malloc((size_t)(need > 0 ? need : 1) * sizeof *a);
    if (!a) return pipa__fail(PIPA_ERR_NOMEM, "plan: out of memory for rank %d's actions", rank);
    p->act[rank] = a;
    p->cap[rank] = need > 0 ? need : 1;
    return PIPA_OK;
}

/* Receives sit right before their consumer and sends right after their producer: the runtime is
 * free to post receives earlier, and the plan stays the plainest statement of the dependencies. */
pipa_status pipa_plan_insert_comms(pipa_plan_t *p)
{
    int last = p->P * p->V - 1;
    for (int r = 0; r < p->P; r++) {
        int n = p->len[r];
        pipa_action_t *old = p->act[r];
        p->act[r] = NULL;
        p->len[r] = 0;
        p->cap[r] = 0;
        pipa_status s = reserve_exact(p, r, comms_need(p, r, old, n));
        for (int i = 0; s == PIPA_OK && i < n; i++) {
            pipa_action_t a = old[i];
            if (is_comm(a.kind)) continue;
            int vs = -1;
            if (a.chunk >= 0 && a.chunk < p->V) vs = pipa_vstage(p, r, a.chunk);
            int fwd = a.kind == PIPA_ACT_F, bwd = a.kind == PIPA_ACT_B || a.kind == PIPA_ACT_I;
            if (fwd && vs > 0) s = pipa_plan_append(p, r, PIPA_ACT_RECV_F, a.mb, a.chunk);
            if (bwd && vs >= 0 && vs < last && s == PIPA_OK)
                s = pipa_plan_append(p, r, PIPA_ACT_RECV_B, a.mb, a.chunk);
            if (s == PIPA_OK) s = pipa_plan_append(p, r, a.kind, a.mb, a.chunk);
            if (fwd && vs >= 0 && vs < last && s == PIPA_OK)
                s = pipa_plan_append(p, r, PIPA_ACT_SEND_F, a.mb, a.chunk);
            if (bwd && vs > 0 && s == PIPA_OK)
                s = pipa_plan_append(p, r, PIPA_ACT_SEND_B, a.mb, a.chunk);
        }
        free(old);
        if (s != PIPA_OK) return s;
    }
    return PIPA_OK;
}

/* ---- text form -------------------------------------------------------------------------- */

pipa_status pipa_plan_write(const pipa_plan_t *p, FILE *f)
{
    /* Round-robin plans keep the header they always had; others name their placement. */
    fprintf(f, "# pipa plan P=%d M=%d V=%d%s\n", p->P, p->M, p->V,
            p->place == PIPA_PLACE_V ? " place=v" : "");
    for (int r = 0; r < p->P; r++)
        for (int i = 0; i < p->len[r]; i++) {
            const pipa_action_t *a = &p->act[r][i];
            if (a->kind == PIPA_ACT_STEP)
                fprintf(f, "rank %d: STEP\n", r);
            else
                fprintf(f, "rank %d: %s %d %d\n", r, pipa_act_name(a->kind), a->mb, a->chunk);
        }
    if (fflush(f) != 0 || ferror(f))
        return pipa__fail(PIPA_ERR_IO, "plan: write failed: %s", strerror(errno));
    return PIPA_OK;
}

/* Reads a decimal int at *s (after optional blanks); advances *s. 0 if there is none. */
static int read_int(const char **s, int *out)
{
    const char *q = *s;
    while (*q == ' ' || *q == '\t') q++;
    if (!(*q == '-' || (*q >= '0' && *q <= '9'))) return 0;
    char *end;
    errno = 0;
    long v = strtol(q, &end, 10);
    if (end == q || errno || v < INT_MIN || v > INT_MAX) return 0;
    *out = (int)v;
    *s = end;
    return 1;
}

/* Reads a word of letters, digits and '_' into w (size n). 0 if there is none or it is too long. */
static int read_word(const char **s, char *w, size_t n)
{
    const char *q = *s;
    while (*q == ' ' || *q == '\t') q++;
    size_t k = 0;
    while ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') ||
           *q == '_') {
        if (k + 1 >= n) return 0;
        w[k++] = *q++;
    }
    w[k] = 0;
    *s = q;
    return k > 0;
}

static int at_end(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
    return *s == 0;
}

static int parse_header(const char *s, int *P, int *M, int *V, int *place)
{
    const char *q = s + strlen("# pipa plan");
    const char *keys = "PMV";
    int *vals[3] = {P, M, V};
    for (int i = 0; i < 3; i++) {
        while (*q == ' ' || *q == '\t') q++;
        if (q[0] != keys[i] || q[1] != '=') return 0;
        q += 2;
        if (!read_int(&q, vals[i])) return 0;
    }
    *place = PIPA_PLACE_LOOP;   /* optional " place=loop|v" */
    while (*q == ' ' || *q == '\t') q++;
    if (!strncmp(q, "place=", 6)) {
        q += 6;
        char w[8];
        if (!read_word(&q, w, sizeof w)) return 0;
        if (!strcmp(w, "v")) *place = PIPA_PLACE_V;
        else if (strcmp(w, "loop")) return 0;
    }
    return at_end(q);
}

/* One action line: "rank R: KIND MB CHUNK" or "rank R: STEP". Range checks against the header. */
static pipa_status parse_action(pipa_plan_t *p, const char *s, const char *name, int line)
{
    const char *q = s;
    char word[16];
    int rank, kind = -1, mb = -1, chunk = -1;
    while (*q == ' ' || *q == '\t') q++;
    if (strncmp(q, "rank", 4) != 0 || !(q[4] == ' ' || q[4] == '\t'))
        return pipa__fail(PIPA_ERR_FORMAT, "%s:%d: expected 'rank R: KIND MB CHUNK'", name, line);
    q += 4;
    if (!read_int(&q, &rank) || *q != ':')
        return pipa__fail(PIPA_ERR_FORMAT, "%s:%d: expected 'rank R:' with an integer R", name, line);
    q++;
    if (rank < 0 || rank >= p->P)
        return pipa__fail(PIPA_ERR_FORMAT, "%s:%d: rank %d out of range 0..%d", name, line, rank,
                          p->P - 1);
    if (!read_word(&q, word, sizeof word))
        return pipa__fail(PIPA_ERR_FORMAT, "%s:%d: expected an action kind after 'rank %d:'", name,
                          line, rank);
    for (int k = 0; k < PIPA_ACT_COUNT; k++)
        if (!strcmp(word, act_names[k])) kind = k;
    if (kind < 0)
        return pipa__fail(PIPA_ERR_FORMAT,
                          "%s:%d: unknown action kind '%s' (F B I W SEND_F RECV_F SEND_B RECV_B STEP)",
                          name, line, word);
    if (kind != PIPA_ACT_STEP) {
        if (!read_int(&q, &mb) || !read_int(&q, &chunk))
            return pipa__fail(PIPA_ERR_FORMAT, "%s:%d: %s needs a microbatch and a chunk", name,
                              line, word);
        if (mb < 0 || mb >= p->M)
            return pipa__fail(PIPA_ERR_FORMAT, "%s:%d: microbatch %d out of range 0..%d", name,
                              line, mb, p->M - 1);
        if (chunk < 0 || chunk >= p->V)
            return pipa__fail(PIPA_ERR_FORMAT, "%s:%d: chunk %d out of range 0..%d", name, line,
                              chunk, p->V - 1);
    }
    if (!at_end(q))
        return pipa__fail(PIPA_ERR_FORMAT, "%s:%d: unexpected text after the action: '%s'", name,
                          line, q);
    /* More than a complete plan can hold is refused now, so memory stays within the header's
     * bounds even for an endless file. */
    if (p->len[rank] >= 7 * p->M * p->V + 1)
        return pipa__fail(PIPA_ERR_FORMAT, "%s:%d: rank %d has more than %d actions, the most a "
                          "plan with M=%d V=%d holds (F, I, W and four messages per microbatch and "
                          "chunk, and one STEP)", name, line, rank, 7 * p->M * p->V + 1, p->M, p->V);
    return pipa_plan_append(p, rank, kind, mb, chunk);
}

/* Reads one line, without its '\n' (and a '\r' before it), into buf of size n. Returns its
 * length; -1 at the end of the file; -2 when longer than n - 2 characters; -3 when it holds a
 * NUL byte (not a text file: the rest of such a line would be silently ignored). */
static int read_line(FILE *f, char *buf, size_t n)
{
    size_t k = 0;
    int c, nul = 0;
    while ((c = getc(f)) != EOF && c != '\n') {
        if (k + 2 >= n) return -2;
        if (c == 0) nul = 1;
        buf[k++] = (char)c;
    }
    if (c == EOF && k == 0) return -1;
    if (k > 0 && buf[k - 1] == '\r') k--;
    buf[k] = 0;
    return nul ? -3 : (int)k;
}

/* The header line "# pipa plan P= M= V=": initialises p. */
static pipa_status read_header(pipa_plan_t *p, const char *q, const char *name, int line)
{
    int P, M, V, place;
    if (p->len)
        return pipa__fail(PIPA_ERR_FORMAT, "%s:%d: second '# pipa plan' header", name, line);
    if (!parse_header(q, &P, &M, &V, &place))
        return pipa__fail(PIPA_ERR_FORMAT, "%s:%d: malformed header, expected "
                          "'# pipa plan P=<ranks> M=<microbatches> V=<chunks> [place=loop|v]'",
                          name, line);
    pipa_status s = pipa_plan_init(p, P, M, V);
    if (s != PIPA_OK) {
        char why[256];   /* the message lives in the buffer pipa__fail writes */
        snprintf(why, sizeof why, "%s", pipa_last_error());
        return pipa__fail(s, "%s:%d: %s", name, line, why);
    }
    p->place = place;
    return PIPA_OK;
}

/* Every (microbatch, chunk) of a rank needs an F and a backward there (an F alone in a
 * forward-only plan): a rank with fewer than 2*M*V (M*V) compute actions can never pass the
 * checker, whose work and memory grow with P*M*V. Refusing here bounds them by the file's size,
 * not by what its header claims. */
static pipa_status check_counts(const pipa_plan_t *p, const char *name)
{
    int per = pipa_plan_forward_only(p) ? 1 : 2;
    for (int r = 0; r < p->P; r++) {
        int compute = 0;
        for (int i = 0; i < p->len[r]; i++) {
            int k = p->act[r][i].kind;
            compute += k == PIPA_ACT_F || k == PIPA_ACT_B || k == PIPA_ACT_I || k == PIPA_ACT_W;
        }
        if (compute < per * p->M * p->V)
            return pipa__fail(PIPA_ERR_FORMAT, "%s: rank %d has %d compute actions, but the header's "
                              "P=%d M=%d V=%d needs at least %d on each rank (%s for each of M*V "
                              "microbatch-chunk pairs): the header does not match the file, or "
                              "actions are missing", name, r, compute, p->P, p->M, p->V,
                              per * p->M * p->V, per == 1 ? "an F" : "an F and a backward");
    }
    return PIPA_OK;
}

/* The lines of a plan; p->len is set once the header was read. */
static pipa_status read_lines(pipa_plan_t *p, FILE *f, const char *name)
{
    char buf[512];
    int line = 0, n;
    while ((n = read_line(f, buf, sizeof buf)) != -1) {
        line++;
        if (n == -2)
            return pipa__fail(PIPA_ERR_FORMAT, "%s:%d: line longer than %d characters", name, line,
                              (int)sizeof buf - 2);
        if (n == -3)
            return pipa__fail(PIPA_ERR_FORMAT, "%s:%d: NUL byte (not a text file)", name, line);
        const char *q = buf;
        while (*q == ' ' || *q == '\t') q++;
        if (!strncmp(q, "# pipa plan", 11)) {
            PIPA_TRY(read_header(p, q, name, line));
            continue;
        }
        if (*q == '#' || at_end(q)) continue;
        if (!p->len)
            return pipa__fail(PIPA_ERR_FORMAT, "%s:%d: action before the '# pipa plan P= M= V=' "
                              "header", name, line);
        PIPA_TRY(parse_action(p, q, name, line));
    }
    if (ferror(f)) return pipa__fail(PIPA_ERR_IO, "%s: read failed", name);
    if (!p->len) return pipa__fail(PIPA_ERR_FORMAT, "%s: no '# pipa plan P= M= V=' header", name);
    return PIPA_OK;
}

pipa_status pipa_plan_read(pipa_plan_t *p, FILE *f, const char *name)
{
    memset(p, 0, sizeof *p);
    if (!name) name = "plan";
    pipa_status s = read_lines(p, f, name);
    if (s == PIPA_OK) s = check_counts(p, name);
    if (s != PIPA_OK) pipa_plan_free(p);
    return s;
}
