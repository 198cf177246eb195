/*
 * fork_storm.c: a prefork server that forks while every part of the library
 * is busy. Three clients of one credential (client_secret_post against the
 * mock, short tokens):
 *
 *   events  an event callback that spins a few microseconds and counts;
 *   file    the file token store (STORM_CACHE_DIR, a fresh directory);
 *   store   a token store in C callbacks: an in-memory table behind a
 *           pthread mutex of its own, made fork-safe by the program
 *           (pthread_atfork), so that a child never needs a lock a parent
 *           thread held.
 *
 * Parent threads read header lines (blocking and try_ forms) and report
 * 401s with the current line and with stale ones, so that token fetches,
 * store loads, locks and publishes and event callbacks are under way all the
 * time. Meanwhile the main thread forks up to STORM_FORKS children (for at
 * most STORM_SECONDS). Each child, with alarm() as a hang guard, gets a
 * header line from each client, reports a 401 for it, frees every client,
 * checks that it holds no descriptor of a `.lock` file (the file store's
 * fetch locks) and _exits with a code that says what failed. It writes the
 * step it is in to shared memory first, so that the parent can tell where a
 * hung child was. With STORM_GDB set, the parent prints the stacks of the
 * first hung children (gdb -p) before they are killed.
 *
 * Run by tests/fork_storm.rs with STORM_TOKEN_URL, STORM_CLIENT_ID,
 * STORM_CLIENT_SECRET, STORM_CACHE_DIR, STORM_FORKS and STORM_SECONDS.
 * Prints "storm: forks N, ok A, hung H, failed F, lock_fd L" (and a line
 * per step where children hung or failed); exit status 0 when every child
 * succeeded.
 */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alpaca_auth.h"

#include "check.h"

/* ---- settings -------------------------------------------------------- */

/* Parent threads per role. */
#define READERS 2         /* alpaca_auth_client_header_line in a loop */
#define TRY_READERS 1     /* alpaca_auth_client_try_header_line in a loop */
#define REJECTERS 2       /* a 401 reported with the current line */
#define STALE_REJECTERS 1 /* a 401 reported with a line of a while ago */
#define THREADS (READERS + TRY_READERS + REJECTERS + STALE_REJECTERS)

/* Children alive at once. */
#define MAX_LIVE 8
/* A child's hang guard (alarm), in seconds: longer than its three blocking
 * calls can take (each bounded by TOKEN_BUDGET_MS). */
#define CHILD_ALARM_S 10
/* The parent kills a child still running this long after its fork. */
#define CHILD_KILL_S (CHILD_ALARM_S + 3)
/* With STORM_GDB: a child running this long gets its stacks printed. */
#define GDB_AFTER_S 4
/* ... for at most this many children. */
#define GDB_MAX 3

/* The client's limits: every blocking call ends well before the alarm. */
#define TOKEN_BUDGET_MS 3000
#define REQUEST_TIMEOUT_MS 2000
#define MAX_WAIT_MS 3000

/* Pauses of the parent threads, in microseconds (two cores are shared
 * with the mock server and the children). */
#define READER_PAUSE_US 200
#define REJECTER_PAUSE_US 2000
/* A stale rejecter keeps a line for this many rounds before reporting it. */
#define STALE_ROUNDS 50
/* What the event callback spins, in nanoseconds. */
#define CALLBACK_SPIN_NS 20000

#define LINE_LEN ALPACA_AUTH_MAX_HEADER_LINE

/* ---- the clients ----------------------------------------------------- */

enum { CLIENT_EVENTS, CLIENT_FILE, CLIENT_STORE, CLIENTS };
static const char *const CLIENT_NAMES[CLIENTS] = {"events", "file", "store"};
static alpaca_auth_client *clients[CLIENTS];

static atomic_long callbacks;

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void pause_us(long us) {
    struct timespec t = {us / 1000000, (us % 1000000) * 1000L};
    nanosleep(&t, NULL);
}

/* The event callback: a little work, then a count. */
static void on_event(const alpaca_auth_event *event, void *user_data) {
    (void)event;
    (void)user_data;
    const uint64_t until = now_ns() + CALLBACK_SPIN_NS;
    while (now_ns() < until) {
    }
    atomic_fetch_add(&callbacks, 1);
}

/* ---- the C token store ----------------------------------------------- */

/* One credential's entry and fetch lock, behind the store's own mutex. The
 * lock remembers the process that took it: in a child, a lock of the parent
 * (whose holder does not exist there) is free. */
struct memory_store {
    pthread_mutex_t mutex;
    char key[65];
    char token[ALPACA_AUTH_MAX_TOKEN_LEN + 1];
    size_t token_len;
    uint64_t expires_at_unix_ms;
    uint64_t lifetime_ms;
    pid_t holder;
};

static struct memory_store memory = {.mutex = PTHREAD_MUTEX_INITIALIZER};

/* fork() takes the store's mutex first, so no child inherits it held. */
static void store_prepare(void) { pthread_mutex_lock(&memory.mutex); }
static void store_release(void) { pthread_mutex_unlock(&memory.mutex); }

static uint32_t mem_load(void *user_data, const char *key, char *token_buf, size_t token_buf_len,
                         size_t *token_len_out, uint64_t *expires_at_unix_ms_out,
                         uint64_t *lifetime_ms_out) {
    struct memory_store *s = user_data;
    pthread_mutex_lock(&s->mutex);
    *token_len_out = 0;
    if (s->token_len > 0 && strcmp(s->key, key) == 0 && s->token_len < token_buf_len) {
        memcpy(token_buf, s->token, s->token_len);
        *token_len_out = s->token_len;
        *expires_at_unix_ms_out = s->expires_at_unix_ms;
        *lifetime_ms_out = s->lifetime_ms;
    }
    pthread_mutex_unlock(&s->mutex);
    return ALPACA_AUTH_RESULT_OK;
}

static uint32_t mem_publish(void *user_data, const char *key, const char *token,
                            uint64_t expires_at_unix_ms, uint64_t lifetime_ms) {
    struct memory_store *s = user_data;
    size_t len = strlen(token);
    if (strlen(key) != 64 || len > ALPACA_AUTH_MAX_TOKEN_LEN) {
        return ALPACA_AUTH_RESULT_INVALID_ARGUMENT;
    }
    pthread_mutex_lock(&s->mutex);
    memcpy(s->key, key, 65);
    memcpy(s->token, token, len + 1);
    s->token_len = len;
    s->expires_at_unix_ms = expires_at_unix_ms;
    s->lifetime_ms = lifetime_ms;
    pthread_mutex_unlock(&s->mutex);
    return ALPACA_AUTH_RESULT_OK;
}

static uint32_t mem_try_lock(void *user_data, const char *key, bool *acquired_out) {
    struct memory_store *s = user_data;
    (void)key;
    const pid_t me = getpid();
    pthread_mutex_lock(&s->mutex);
    *acquired_out = s->holder != me;
    if (*acquired_out) {
        s->holder = me;
    }
    pthread_mutex_unlock(&s->mutex);
    return ALPACA_AUTH_RESULT_OK;
}

static uint32_t mem_unlock(void *user_data, const char *key) {
    struct memory_store *s = user_data;
    (void)key;
    pthread_mutex_lock(&s->mutex);
    s->holder = 0;
    pthread_mutex_unlock(&s->mutex);
    return ALPACA_AUTH_RESULT_OK;
}

static uint32_t mem_remove_if(void *user_data, const char *key, const char *token) {
    struct memory_store *s = user_data;
    pthread_mutex_lock(&s->mutex);
    if (s->token_len > 0 && strcmp(s->key, key) == 0 && strcmp(s->token, token) == 0) {
        memset(s->token, 0, sizeof s->token);
        s->token_len = 0;
    }
    pthread_mutex_unlock(&s->mutex);
    return ALPACA_AUTH_RESULT_OK;
}

/* ---- building the clients -------------------------------------------- */

/* A builder for the mock with the client's limits; NULL on failure. */
static alpaca_auth_builder *storm_builder(void) {
    alpaca_auth_builder *b = NULL;
    CHECK(alpaca_auth_builder_new(&b) == ALPACA_AUTH_RESULT_OK);
    CHECK(alpaca_auth_builder_set_environment(b, "broker-sandbox") == ALPACA_AUTH_RESULT_OK);
    CHECK(alpaca_auth_builder_set_token_url(b, env("STORM_TOKEN_URL")) == ALPACA_AUTH_RESULT_OK);
    CHECK(alpaca_auth_builder_set_client_secret(b, env("STORM_CLIENT_ID"),
                                                env("STORM_CLIENT_SECRET")) ==
          ALPACA_AUTH_RESULT_OK);
    CHECK(alpaca_auth_builder_set_token_budget_ms(b, TOKEN_BUDGET_MS) == ALPACA_AUTH_RESULT_OK);
    CHECK(alpaca_auth_builder_set_request_timeout_ms(b, REQUEST_TIMEOUT_MS) ==
          ALPACA_AUTH_RESULT_OK);
    CHECK(alpaca_auth_builder_set_max_wait_ms(b, MAX_WAIT_MS) == ALPACA_AUTH_RESULT_OK);
    return b;
}

static alpaca_auth_client *build(alpaca_auth_builder *b) {
    alpaca_auth_client *client = NULL;
    EXPECT(alpaca_auth_builder_build(b, &client), ALPACA_AUTH_RESULT_OK, NULL);
    return client;
}

static void build_clients(void) {
    alpaca_auth_builder *b = storm_builder();
    CHECK(alpaca_auth_builder_set_event_callback(b, on_event, NULL) == ALPACA_AUTH_RESULT_OK);
    clients[CLIENT_EVENTS] = build(b);

    b = storm_builder();
    CHECK(alpaca_auth_builder_set_token_cache_dir(b, env("STORM_CACHE_DIR")) ==
          ALPACA_AUTH_RESULT_OK);
    clients[CLIENT_FILE] = build(b);

    alpaca_auth_token_store store = {
        .struct_size = sizeof store,
        .user_data = &memory,
        .load = mem_load,
        .publish = mem_publish,
        .try_lock = mem_try_lock,
        .unlock = mem_unlock,
        .remove_if = mem_remove_if,
        .free_user_data = NULL,
    };
    b = storm_builder();
    CHECK(alpaca_auth_builder_set_token_store(b, &store) == ALPACA_AUTH_RESULT_OK);
    clients[CLIENT_STORE] = build(b);
}

/* ---- the parent's threads -------------------------------------------- */

enum role { READER, TRY_READER, REJECTER, STALE_REJECTER };

struct worker {
    pthread_t thread;
    enum role role;
    long calls;
    long errors; /* results other than OK (and WOULD_BLOCK for try_) */
};

static atomic_bool stopping;

static void *work(void *arg) {
    struct worker *w = arg;
    char line[LINE_LEN];
    char stale[CLIENTS][LINE_LEN] = {{0}};
    for (long round = 0; !atomic_load(&stopping); round++) {
        const int c = (int)(round % CLIENTS);
        size_t len = 0;
        alpaca_auth_result r;
        if (w->role == TRY_READER) {
            r = alpaca_auth_client_try_header_line(clients[c], 0, line, sizeof line, &len);
            w->errors += r != ALPACA_AUTH_RESULT_OK && r != ALPACA_AUTH_RESULT_WOULD_BLOCK;
        } else {
            r = alpaca_auth_client_header_line(clients[c], 0, line, sizeof line, &len);
            w->errors += r != ALPACA_AUTH_RESULT_OK;
        }
        w->calls++;
        if (r == ALPACA_AUTH_RESULT_OK && w->role == REJECTER) {
            w->errors += alpaca_auth_client_invalidate_presented(clients[c], line) !=
                         ALPACA_AUTH_RESULT_OK;
        }
        if (r == ALPACA_AUTH_RESULT_OK && w->role == STALE_REJECTER) {
            if (stale[c][0] != '\0') {
                w->errors += alpaca_auth_client_invalidate_presented(clients[c], stale[c]) !=
                             ALPACA_AUTH_RESULT_OK;
            }
            if (round % (STALE_ROUNDS * CLIENTS) < CLIENTS) {
                memcpy(stale[c], line, sizeof line);
            }
        }
        pause_us(w->role == REJECTER ? REJECTER_PAUSE_US : READER_PAUSE_US);
    }
    return NULL;
}

static void start_workers(struct worker *workers) {
    for (int i = 0; i < THREADS; i++) {
        workers[i].role = i < READERS                             ? READER
                          : i < READERS + TRY_READERS             ? TRY_READER
                          : i < READERS + TRY_READERS + REJECTERS ? REJECTER
                                                                  : STALE_REJECTER;
        CHECK(pthread_create(&workers[i].thread, NULL, work, &workers[i]) == 0);
    }
}

/* ---- the child ------------------------------------------------------- */

/* Where a child is: written to shared memory before each step. */
enum step {
    STEP_FORKED,
    STEP_HEADER,                        /* + client: header_line */
    STEP_REPORT = STEP_HEADER + CLIENTS, /* + client: invalidate_presented */
    STEP_FREE = STEP_REPORT + CLIENTS,   /* + client: client_free */
    STEP_LOCK_FDS = STEP_FREE + CLIENTS,
    STEP_DONE,
    STEPS
};

/* Exit codes of a child. */
#define EXIT_OK 0
#define EXIT_INHERITED_LOCK_FD 3 /* a .lock descriptor right after fork() */
#define EXIT_KEPT_LOCK_FD 4      /* a .lock descriptor after the frees */
#define EXIT_FAILED_AT 10        /* + step: a call returned an error */

/* One slot per live child, in memory shared with the children. */
static _Atomic int *child_step;

static void step_name(int step, char *out, size_t len) {
    if (step == STEP_FORKED) {
        snprintf(out, len, "after fork");
    } else if (step < STEP_REPORT) {
        snprintf(out, len, "header_line(%s)", CLIENT_NAMES[step - STEP_HEADER]);
    } else if (step < STEP_FREE) {
        snprintf(out, len, "invalidate_presented(%s)", CLIENT_NAMES[step - STEP_REPORT]);
    } else if (step < STEP_LOCK_FDS) {
        snprintf(out, len, "client_free(%s)", CLIENT_NAMES[step - STEP_FREE]);
    } else if (step == STEP_LOCK_FDS) {
        snprintf(out, len, "lock descriptor check");
    } else {
        snprintf(out, len, "done");
    }
}

/* Whether this process has a descriptor open on a file named *.lock. */
static bool holds_lock_fd(void) {
    DIR *dir = opendir("/proc/self/fd");
    if (dir == NULL) {
        return true; /* cannot tell: count it against the child */
    }
    bool found = false;
    struct dirent *entry;
    char target[4096];
    while (!found && (entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.') {
            continue;
        }
        ssize_t n = readlinkat(dirfd(dir), entry->d_name, target, sizeof target - 1);
        if (n > 0) {
            target[n] = '\0';
            found = n >= 5 && strcmp(target + n - 5, ".lock") == 0;
        }
    }
    closedir(dir);
    return found;
}

/* Leaves the child with `code`, saying why on stderr if it is a failure. */
static void child_exit(int code, int step) {
    if (code != EXIT_OK) {
        char what[64], message[ALPACA_AUTH_MAX_ERROR_LEN], out[512];
        size_t needed = 0;
        step_name(step, what, sizeof what);
        if (alpaca_auth_last_error(message, sizeof message, &needed) != ALPACA_AUTH_RESULT_OK) {
            message[0] = '\0';
        }
        int n = snprintf(out, sizeof out, "child %d: exit %d at %s: %s\n", (int)getpid(), code,
                         what, message);
        if (n > 0 && write(STDERR_FILENO, out, (size_t)n) < 0) {
            /* nothing else to do */
        }
    }
    _exit(code);
}

static void child(_Atomic int *step) {
    alarm(CHILD_ALARM_S);
    atomic_store(step, STEP_FORKED);
    if (holds_lock_fd()) {
        child_exit(EXIT_INHERITED_LOCK_FD, STEP_FORKED);
    }
    for (int c = 0; c < CLIENTS; c++) {
        char line[LINE_LEN];
        size_t len = 0;
        atomic_store(step, STEP_HEADER + c);
        if (alpaca_auth_client_header_line(clients[c], 0, line, sizeof line, &len) !=
            ALPACA_AUTH_RESULT_OK) {
            child_exit(EXIT_FAILED_AT + STEP_HEADER + c, STEP_HEADER + c);
        }
        atomic_store(step, STEP_REPORT + c);
        if (alpaca_auth_client_invalidate_presented(clients[c], line) != ALPACA_AUTH_RESULT_OK) {
            child_exit(EXIT_FAILED_AT + STEP_REPORT + c, STEP_REPORT + c);
        }
    }
    for (int c = 0; c < CLIENTS; c++) {
        atomic_store(step, STEP_FREE + c);
        alpaca_auth_client_free(clients[c]);
    }
    atomic_store(step, STEP_LOCK_FDS);
    if (holds_lock_fd()) {
        child_exit(EXIT_KEPT_LOCK_FD, STEP_LOCK_FDS);
    }
    atomic_store(step, STEP_DONE);
    _exit(EXIT_OK);
}

/* ---- the parent's bookkeeping ---------------------------------------- */

struct tally {
    long forks, ok, hung, failed, lock_fd;
    long lock_fd_inherited; /* of lock_fd: open right after fork() */
    long hung_at[STEPS], failed_at[STEPS];
    int traced;
};

struct live {
    pid_t pid; /* 0: a free slot */
    uint64_t started_ns;
    bool traced;
};

/* Prints the stacks of a child that looks hung (STORM_GDB). */
static void trace(pid_t pid) {
    char target[32];
    snprintf(target, sizeof target, "%d", (int)pid);
    fprintf(stderr, "--- stacks of child %s\n", target);
    fflush(stderr);
    pid_t gdb = fork();
    if (gdb == 0) {
        dup2(STDERR_FILENO, STDOUT_FILENO);
        execlp("gdb", "gdb", "-p", target, "-batch", "-nx", "-ex", "thread apply all bt 12",
               (char *)NULL);
        _exit(127);
    }
    if (gdb > 0) {
        waitpid(gdb, NULL, 0);
    }
}

/* Counts a reaped child by its wait status and last step. */
static void count(struct tally *t, int status, int step) {
    if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_OK) {
        t->ok++;
    } else if (WIFEXITED(status) && (WEXITSTATUS(status) == EXIT_INHERITED_LOCK_FD ||
                                     WEXITSTATUS(status) == EXIT_KEPT_LOCK_FD)) {
        t->lock_fd++;
        t->lock_fd_inherited += WEXITSTATUS(status) == EXIT_INHERITED_LOCK_FD;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) >= EXIT_FAILED_AT &&
               WEXITSTATUS(status) < EXIT_FAILED_AT + STEPS) {
        t->failed++;
        t->failed_at[WEXITSTATUS(status) - EXIT_FAILED_AT]++;
    } else if (WIFSIGNALED(status) &&
               (WTERMSIG(status) == SIGALRM || WTERMSIG(status) == SIGKILL)) {
        t->hung++;
        t->hung_at[step]++;
    } else {
        t->failed++; /* another signal or exit code: a crash */
        t->failed_at[step]++;
        fprintf(stderr, "child crashed at step %d (status 0x%x)\n", step, (unsigned)status);
    }
}

/* Reaps the finished children of `live` (waiting for none), kills those past
 * CHILD_KILL_S, traces those past GDB_AFTER_S if asked; returns how many
 * are still alive. */
static int reap(struct live *live, struct tally *t, bool gdb) {
    int alive = 0;
    for (int i = 0; i < MAX_LIVE; i++) {
        if (live[i].pid == 0) {
            continue;
        }
        int status = 0;
        pid_t done = waitpid(live[i].pid, &status, WNOHANG);
        const uint64_t age_s = (now_ns() - live[i].started_ns) / 1000000000u;
        if (done == 0 && gdb && !live[i].traced && age_s >= GDB_AFTER_S && t->traced < GDB_MAX) {
            live[i].traced = true;
            t->traced++;
            char where[64];
            step_name(atomic_load(&child_step[i]), where, sizeof where);
            fprintf(stderr, "child %d has been at %s for %d s\n", (int)live[i].pid, where,
                    (int)age_s);
            trace(live[i].pid);
        }
        if (done == 0 && age_s >= CHILD_KILL_S) {
            kill(live[i].pid, SIGKILL);
            done = waitpid(live[i].pid, &status, 0);
        }
        if (done == live[i].pid) {
            count(t, status, atomic_load(&child_step[i]));
            live[i].pid = 0;
        } else {
            alive++;
        }
    }
    return alive;
}

/* A free slot of `live`, waiting for one if all are taken. */
static int free_slot(struct live *live, struct tally *t, bool gdb) {
    for (;;) {
        reap(live, t, gdb);
        for (int i = 0; i < MAX_LIVE; i++) {
            if (live[i].pid == 0) {
                return i;
            }
        }
        pause_us(READER_PAUSE_US);
    }
}

static void print_steps(const char *what, const long *counts) {
    for (int s = 0; s < STEPS; s++) {
        if (counts[s] > 0) {
            char name[64];
            step_name(s, name, sizeof name);
            printf("%s at %s: %ld\n", what, name, counts[s]);
        }
    }
}

int main(void) {
    const long forks = atol(env("STORM_FORKS"));
    const double seconds = atof(env("STORM_SECONDS"));
    const bool gdb = getenv("STORM_GDB") != NULL;
    child_step = mmap(NULL, MAX_LIVE * sizeof *child_step, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (child_step == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    CHECK(pthread_atfork(store_prepare, store_release, store_release) == 0);
    build_clients();
    if (failed > 0) {
        fprintf(stderr, "fork_storm.c: the clients do not build\n");
        return 1;
    }
    printf("storm: %ld forks at most, %.0f s at most, %d parent threads, %d children at once\n",
           forks, seconds, THREADS, MAX_LIVE);
    fflush(stdout);

    struct worker workers[THREADS] = {0};
    start_workers(workers);
    pause_us(200000); /* the first tokens, every thread under way */

    struct live live[MAX_LIVE] = {{0}};
    struct tally t = {0};
    const uint64_t started = now_ns();
    const uint64_t deadline = started + (uint64_t)(seconds * 1e9);
    while (t.forks < forks && now_ns() < deadline) {
        const int slot = free_slot(live, &t, gdb);
        atomic_store(&child_step[slot], STEP_FORKED);
        pid_t pid = fork();
        if (pid == 0) {
            child(&child_step[slot]);
        }
        if (pid < 0) {
            perror("fork");
            break;
        }
        live[slot] = (struct live){.pid = pid, .started_ns = now_ns()};
        t.forks++;
    }
    while (reap(live, &t, gdb) > 0) {
        pause_us(READER_PAUSE_US);
    }
    const double elapsed = (double)(now_ns() - started) / 1e9;

    atomic_store(&stopping, true);
    long calls = 0, errors = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(workers[i].thread, NULL);
        calls += workers[i].calls;
        errors += workers[i].errors;
    }
    for (int c = 0; c < CLIENTS; c++) {
        alpaca_auth_stats stats = {.struct_size = sizeof stats};
        CHECK(alpaca_auth_client_stats(clients[c], &stats) == ALPACA_AUTH_RESULT_OK);
        printf("parent: client %s: %llu token fetches, %llu failed\n", CLIENT_NAMES[c],
               (unsigned long long)stats.token_fetches,
               (unsigned long long)stats.token_fetch_failures);
        alpaca_auth_client_free(clients[c]);
    }
    print_steps("hung", t.hung_at);
    print_steps("failed", t.failed_at);
    if (t.lock_fd > 0) {
        printf("lock_fd: %ld open right after fork, %ld after the frees\n", t.lock_fd_inherited,
               t.lock_fd - t.lock_fd_inherited);
    }
    printf("parent: %ld calls, %ld errors, %ld event callbacks\n", calls, errors,
           atomic_load(&callbacks));
    printf("storm: forks %ld, ok %ld, hung %ld, failed %ld, lock_fd %ld, seconds %.1f\n", t.forks,
           t.ok, t.hung, t.failed, t.lock_fd, elapsed);
    return t.ok == t.forks && t.forks > 0 && failed == 0 ? 0 : 1;
}
