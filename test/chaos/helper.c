// Load and consumers for the chaos suite (test/chaos/run.ts) and the hardening tests.
//   helper open DIR NPROC NOPS      NPROC processes open+read+close DIR/f0..f15 NOPS times each;
//                                   prints "ok=N eperm=N other=N"
//   helper load DIR MS [RATE]       create/write/rename/unlink in DIR for MS ms (at most RATE ops/s);
//                                   prints "ops=N"
//   helper hostile DIR              names with a newline, invalid UTF-8, 255 bytes, quotes, a tab;
//                                   each created, written, opened, unlinked; prints "names=N"
//   helper stallcat OUT RUN STALL   copies stdin to OUT, pausing STALL ms after every RUN ms
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int do_open(const char *dir, int nproc, int nops) {
  int pipes[2];
  if (pipe(pipes) != 0) return 1;
  for (int p = 0; p < nproc; p++) {
    if (fork() == 0) {
      long ok = 0, eperm = 0, other = 0;
      char path[4096], b[1];
      for (int i = 0; i < nops; i++) {
        snprintf(path, sizeof path, "%s/f%d", dir, (p + i) % 16);
        int fd = open(path, O_RDONLY);
        if (fd < 0) {
          if (errno == EPERM) eperm++; else other++;
          continue;
        }
        if (read(fd, b, 1) < 0) other++;
        close(fd);
        ok++;
      }
      long r[3] = {ok, eperm, other};
      if (write(pipes[1], r, sizeof r) != sizeof r) _exit(1);
      _exit(0);
    }
  }
  close(pipes[1]);
  long tot[3] = {0, 0, 0}, r[3];
  while (read(pipes[0], r, sizeof r) == sizeof r) for (int k = 0; k < 3; k++) tot[k] += r[k];
  while (wait(NULL) > 0) {}
  printf("ok=%ld eperm=%ld other=%ld\n", tot[0], tot[1], tot[2]);
  return 0;
}

static int do_load(const char *dir, double ms, double rate) {
  double start = now_ms(), end = start + ms;
  long ops = 0;
  char a[4096], b[4096];
  while (now_ms() < end) {
    // paced: at most `rate` ops per second (0: flat out)
    if (rate > 0 && ops > (now_ms() - start) * rate / 1000) {
      usleep(200);
      continue;
    }
    for (int i = 0; i < 64; i++) {
      snprintf(a, sizeof a, "%s/l%d", dir, i);
      snprintf(b, sizeof b, "%s/m%d", dir, i);
      int fd = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        if (write(fd, "x\n", 2) < 0) {}
        close(fd);
      }
      rename(a, b);
      unlink(b);
      ops += 4;
    }
  }
  printf("ops=%ld\n", ops);
  return 0;
}

static int do_hostile(const char *dir) {
  char long_name[256];
  memset(long_name, 'n', 255);
  long_name[255] = 0;
  const char *names[] = {"new\nline", "bad\xe9utf8", "\xff\xfe", "quote\"back\\slash", "tab\tand\x01ctl",
                         long_name, "--flag-like", "sp ace", "caf\xc3\xa9", "\x1b[31mred"};
  int n = sizeof names / sizeof names[0];
  char path[4096];
  for (int i = 0; i < n; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { perror(path); return 1; }
    if (write(fd, "x\n", 2) < 0) {}
    close(fd);
    fd = open(path, O_RDONLY);
    if (fd >= 0) close(fd);
    unlink(path);
  }
  printf("names=%d\n", n);
  return 0;
}

static int do_stallcat(const char *out, double run, double stall) {
  int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return 1;
  static char buf[1 << 16];
  double phase = now_ms();
  for (;;) {
    if (now_ms() - phase > run) {
      usleep((useconds_t)(stall * 1000));
      phase = now_ms();
    }
    ssize_t n = read(0, buf, sizeof buf);
    if (n <= 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(fd, buf + off, n - off);
      if (w <= 0) return 1;
      off += w;
    }
  }
  close(fd);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 5 && !strcmp(argv[1], "open")) return do_open(argv[2], atoi(argv[3]), atoi(argv[4]));
  if (argc >= 4 && !strcmp(argv[1], "load")) return do_load(argv[2], atof(argv[3]), argc >= 5 ? atof(argv[4]) : 0);
  if (argc >= 3 && !strcmp(argv[1], "hostile")) return do_hostile(argv[2]);
  if (argc >= 5 && !strcmp(argv[1], "stallcat")) return do_stallcat(argv[2], atof(argv[3]), atof(argv[4]));
  fprintf(stderr, "usage: helper open|load|hostile|stallcat ...\n");
  return 2;
}
