// slowdev: a read-only FUSE file system holding one file, "dev", whose
// reads come from a backing file after a simulated device's service time:
// each request waits --latency-us microseconds plus its length at
// --mbps MB/s, and at most --depth requests are served at once (the
// device's queue depth; more wait their turn).  bench/slow_device.sh uses
// it to time e2qimage and e2image on a device with real latency, which
// this virtual machine's disk (cached by its host) does not have.
//
//   slowdev BACKING MOUNTPOINT [--latency-us=N] [--depth=N] [--mbps=N]
//           [FUSE options, e.g. -f]
//
// Each request's wait is counted; `cat MOUNTPOINT/.stats` prints the
// requests, bytes and the largest number served at once since mount.
#define FUSE_USE_VERSION 31

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct {
  const char* backing;
  unsigned latency_us;
  unsigned depth;
  unsigned mbps;
  int fd;
  off_t size;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  unsigned busy, max_busy;
  unsigned long long requests, bytes;
} g = {.latency_us = 200, .depth = 32, .mbps = 500};

struct options {
  unsigned latency_us, depth, mbps;
};

#define OPT(t, p) \
  { t, offsetof(struct options, p), 1 }
static const struct fuse_opt kOpts[] = {
    OPT("--latency-us=%u", latency_us),
    OPT("--depth=%u", depth),
    OPT("--mbps=%u", mbps),
    FUSE_OPT_END,
};

static void SleepUs(unsigned long long us) {
  struct timespec t = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
  while (nanosleep(&t, &t) != 0 && errno == EINTR) {
  }
}

static void* Init(struct fuse_conn_info* conn, struct fuse_config* cfg) {
  (void)conn;
  cfg->kernel_cache = 1;  // the benchmark drops the cache itself
  cfg->attr_timeout = 3600;
  cfg->entry_timeout = 3600;
  return NULL;
}

static int GetAttr(const char* path, struct stat* st,
                   struct fuse_file_info* fi) {
  (void)fi;
  memset(st, 0, sizeof(*st));
  if (strcmp(path, "/") == 0) {
    st->st_mode = S_IFDIR | 0555;
    st->st_nlink = 2;
    return 0;
  }
  if (strcmp(path, "/dev") == 0) {
    st->st_mode = S_IFREG | 0444;
    st->st_nlink = 1;
    st->st_size = g.size;
    return 0;
  }
  if (strcmp(path, "/.stats") == 0) {
    st->st_mode = S_IFREG | 0444;
    st->st_nlink = 1;
    st->st_size = 4096;
    return 0;
  }
  return -ENOENT;
}

static int ReadDir(const char* path, void* buf, fuse_fill_dir_t fill, off_t off,
                   struct fuse_file_info* fi, enum fuse_readdir_flags flags) {
  (void)off;
  (void)fi;
  (void)flags;
  if (strcmp(path, "/") != 0) return -ENOENT;
  fill(buf, ".", NULL, 0, 0);
  fill(buf, "..", NULL, 0, 0);
  fill(buf, "dev", NULL, 0, 0);
  return 0;
}

static int Open(const char* path, struct fuse_file_info* fi) {
  if (strcmp(path, "/dev") != 0 && strcmp(path, "/.stats") != 0) {
    return -ENOENT;
  }
  if ((fi->flags & O_ACCMODE) != O_RDONLY) return -EROFS;
  if (strcmp(path, "/.stats") == 0) fi->direct_io = 1;
  return 0;
}

static int Stats(char* buf, size_t size, off_t off) {
  char text[256];
  pthread_mutex_lock(&g.mu);
  int n =
      snprintf(text, sizeof(text),
               "requests %llu\nbytes %llu\nmax_in_flight %u\n"
               "latency_us %u\ndepth %u\nmbps %u\n",
               g.requests, g.bytes, g.max_busy, g.latency_us, g.depth, g.mbps);
  g.requests = g.bytes = 0;
  g.max_busy = 0;
  pthread_mutex_unlock(&g.mu);
  if (off >= n) return 0;
  if ((size_t)(n - off) < size) size = (size_t)(n - off);
  memcpy(buf, text + off, size);
  return (int)size;
}

static int Read(const char* path, char* buf, size_t size, off_t off,
                struct fuse_file_info* fi) {
  (void)fi;
  if (strcmp(path, "/.stats") == 0) return Stats(buf, size, off);
  pthread_mutex_lock(&g.mu);
  while (g.busy >= g.depth) pthread_cond_wait(&g.cv, &g.mu);
  ++g.busy;
  if (g.busy > g.max_busy) g.max_busy = g.busy;
  ++g.requests;
  g.bytes += size;
  pthread_mutex_unlock(&g.mu);

  SleepUs(g.latency_us + (g.mbps ? size / g.mbps : 0));
  ssize_t got = pread(g.fd, buf, size, off);
  const int err = errno;

  pthread_mutex_lock(&g.mu);
  --g.busy;
  pthread_cond_signal(&g.cv);
  pthread_mutex_unlock(&g.mu);
  return got < 0 ? -err : (int)got;
}

static const struct fuse_operations kOps = {
    .getattr = GetAttr,
    .open = Open,
    .read = Read,
    .readdir = ReadDir,
    .init = Init,
};

int main(int argc, char** argv) {
  if (argc < 3 || argv[1][0] == '-') {
    fprintf(stderr,
            "usage: slowdev BACKING MOUNTPOINT [--latency-us=N] [--depth=N] "
            "[--mbps=N] [FUSE options]\n");
    return 2;
  }
  g.backing = argv[1];
  g.fd = open(g.backing, O_RDONLY);
  if (g.fd < 0) {
    perror(g.backing);
    return 1;
  }
  struct stat st;
  if (fstat(g.fd, &st) != 0) {
    perror(g.backing);
    return 1;
  }
  g.size = st.st_size;
  pthread_mutex_init(&g.mu, NULL);
  pthread_cond_init(&g.cv, NULL);

  // FUSE sees the program name and everything after BACKING.
  struct fuse_args args = FUSE_ARGS_INIT(argc - 1, argv + 1);
  args.argv[0] = argv[0];
  struct options o = {g.latency_us, g.depth, g.mbps};
  if (fuse_opt_parse(&args, &o, kOpts, NULL) != 0) return 2;
  if (o.depth == 0) o.depth = 1;
  g.latency_us = o.latency_us;
  g.depth = o.depth;
  g.mbps = o.mbps;
  return fuse_main(args.argc, args.argv, &kOps, NULL);
}
