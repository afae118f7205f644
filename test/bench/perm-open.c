/* Permission latency probe: open+read+close of DIR/p0..p(K-1), N times, timing each open().
 * usage: perm-open DIR N [K]   (creates the K files first if missing; default K=64)
 * prints: "opens=N secs=S rate=R p50_us=A p90_us=B p99_us=C p999_us=D max_us=E"
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s DIR N [K]\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1];
  long n = atol(argv[2]);
  int k = argc > 3 ? atoi(argv[3]) : 64;
  char path[4096], buf[256];
  for (int i = 0; i < k; i++) {
    snprintf(path, sizeof path, "%s/p%d", dir, i);
    if (access(path, F_OK) != 0) {
      int fd = open(path, O_WRONLY | O_CREAT, 0644);
      if (fd < 0 || write(fd, "data\n", 5) != 5) { perror(path); return 1; }
      close(fd);
    }
  }
  double *lat = malloc(sizeof(double) * n);
  double start = now_us();
  for (long i = 0; i < n; i++) {
    snprintf(path, sizeof path, "%s/p%ld", dir, i % k);
    double t0 = now_us();
    int fd = open(path, O_RDONLY);
    lat[i] = now_us() - t0;
    if (fd < 0) { perror(path); return 1; }
    if (read(fd, buf, sizeof buf) < 0) { perror("read"); return 1; }
    close(fd);
  }
  double secs = (now_us() - start) / 1e6;
  qsort(lat, n, sizeof(double), cmp);
  printf("opens=%ld secs=%.3f rate=%.0f p50_us=%.2f p90_us=%.2f p99_us=%.2f p999_us=%.2f max_us=%.2f\n", n, secs,
         n / secs, lat[n / 2], lat[(long)(n * 0.9)], lat[(long)(n * 0.99)], lat[(long)(n * 0.999)], lat[n - 1]);
  return 0;
}
