// Async-signal-safe cleanup of the temporary output file, then death by
// the signal that interrupted the run.
#include "e2qimage/signals.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace e2q::cli {

namespace {

// A fixed buffer: the handler may only read it, never allocate.
char g_temp_path[4096];
std::atomic<bool> g_have_temp{false};

// Ends the process by `sig` itself: default action, unblocked, raised.
// Every call here is async-signal-safe.
[[noreturn]] void DieOf(int sig) {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  raise(sig);
  _exit(128 + sig);  // not reached: the default action of sig terminates
}

void OnSignal(int sig) {
  if (g_have_temp.load()) unlink(g_temp_path);
  const char* msg = "e2qimage: interrupted by a signal; no image written\n";
  ssize_t ignored = write(STDERR_FILENO, msg, strlen(msg));
  (void)ignored;
  DieOf(sig);
}

}  // namespace

void InstallSignalHandlers() {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
  // A reader that goes away makes the next write fail with EPIPE, which
  // ends the run with "standard output: write ...: Broken pipe".
  signal(SIGPIPE, SIG_IGN);
  // Over the file size limit (ulimit -f), a write fails with EFBIG and the
  // run ends with a message and no output, instead of dying of SIGXFSZ
  // with its temporary file left behind.
  signal(SIGXFSZ, SIG_IGN);
}

void RegisterTempFile(const std::string& path) {
  if (path.empty() || path.size() >= sizeof(g_temp_path)) return;
  g_have_temp.store(false);
  memcpy(g_temp_path, path.c_str(), path.size() + 1);
  g_have_temp.store(true);
}

void UnregisterTempFile() { g_have_temp.store(false); }

}  // namespace e2q::cli
