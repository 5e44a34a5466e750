// An LD_PRELOAD shim that steps the wall clock of a process, for the clock
// test (clock_step_test.cc): CLOCK_REALTIME (and gettimeofday, time) read
// the real time plus an offset in seconds, read from the file named by
// FIXSTREAM_CLOCK_SHIM_FILE at most every 20 ms. CLOCK_MONOTONIC is left
// alone: a process whose timeouts follow it does not notice the step.
// No allocation (it may run inside any libc call path).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec*);

static clock_gettime_fn real_clock_gettime(void) {
  static clock_gettime_fn fn;
  clock_gettime_fn f = __atomic_load_n(&fn, __ATOMIC_ACQUIRE);
  if (f == NULL) {
    f = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
    __atomic_store_n(&fn, f, __ATOMIC_RELEASE);
  }
  return f;
}

static long long offset_ns;
static long long next_read_ns;

static long long offset(void) {
  struct timespec now;
  real_clock_gettime()(CLOCK_MONOTONIC, &now);
  const long long mono = now.tv_sec * 1000000000LL + now.tv_nsec;
  if (mono >= __atomic_load_n(&next_read_ns, __ATOMIC_RELAXED)) {
    __atomic_store_n(&next_read_ns, mono + 20000000LL, __ATOMIC_RELAXED);
    const char* path = getenv("FIXSTREAM_CLOCK_SHIM_FILE");
    if (path != NULL) {
      const int fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        char buf[32];
        const ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n > 0) {
          buf[n] = '\0';
          __atomic_store_n(&offset_ns, strtoll(buf, NULL, 10) * 1000000000LL, __ATOMIC_RELAXED);
        }
      }
    }
  }
  return __atomic_load_n(&offset_ns, __ATOMIC_RELAXED);
}

int clock_gettime(clockid_t id, struct timespec* ts) {
  const int r = real_clock_gettime()(id, ts);
  if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) {
    long long ns = ts->tv_sec * 1000000000LL + ts->tv_nsec + offset();
    ts->tv_sec = ns / 1000000000LL;
    ts->tv_nsec = ns % 1000000000LL;
  }
  return r;
}

int gettimeofday(struct timeval* tv, void* tz) {
  (void)tz;
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return -1;
  tv->tv_sec = ts.tv_sec;
  tv->tv_usec = ts.tv_nsec / 1000;
  return 0;
}

time_t time(time_t* out) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (out != NULL) *out = ts.tv_sec;
  return ts.tv_sec;
}
