// E2Q_FAULT parsing and the interposer that wraps files in FaultFiles.
#include "tests/tools/e2qimage_fault/fault_hook.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

#include "lib/io/file.h"
#include "lib/io/forwarding_file.h"
#include "tests/doubles/fault_file.h"

namespace e2q::cli {

namespace {

struct Plan {
  std::vector<FaultFile::Fault> in_faults, out_faults;
  size_t in_short = 0;
  uint64_t crash_at = UINT64_MAX;
  bool kill = false;
  uint64_t dev_kill_after = UINT64_MAX;  // dev:kill:N
  bool stall = false;
  bool report = false;
};

// dev:kill:N: SIGKILL once `after` writes are done, at the next write or
// sync, as a power cut or kill -9 after the N-th device write would.
class KillAfterWrites : public io::ForwardingFile {
 public:
  KillAfterWrites(std::unique_ptr<io::File> base, uint64_t after)
      : io::ForwardingFile(base.get()),
        owned_(std::move(base)),
        after_(after) {}
  Status WriteAt(uint64_t offset, const void* buf, size_t len) override {
    if (writes_.fetch_add(1) >= after_) std::raise(SIGKILL);
    return io::ForwardingFile::WriteAt(offset, buf, len);
  }
  // Zeroing counts as the writes of zeros it stands for.
  Status ZeroRange(uint64_t offset, uint64_t len) override {
    return io::File::ZeroRange(offset, len);
  }
  Status Sync() override {
    if (writes_.load() >= after_) std::raise(SIGKILL);
    return io::ForwardingFile::Sync();
  }

 private:
  std::unique_ptr<io::File> owned_;
  const uint64_t after_;
  std::atomic<uint64_t> writes_{0};
};

Plan g_plan;
std::mutex g_mu;
uint64_t g_max_reads = 0, g_max_writes = 0, g_max_syncs = 0,
         g_max_truncates = 0;

// A FaultFile that adds its call counts to the report when it closes.
class CountedFaultFile : public FaultFile {
 public:
  CountedFaultFile(std::unique_ptr<io::File> base, io::FileRole role)
      : FaultFile(std::move(base)), role_(role) {}
  ~CountedFaultFile() override {
    std::lock_guard<std::mutex> lock(g_mu);
    if (role_ == io::FileRole::kInput) {
      g_max_reads = std::max(g_max_reads, reads());
    } else {
      g_max_writes = std::max(g_max_writes, writes());
      g_max_syncs = std::max(g_max_syncs, syncs());
      g_max_truncates = std::max(g_max_truncates, truncates());
    }
  }

 private:
  io::FileRole role_;
};

std::unique_ptr<io::File> Wrap(std::unique_ptr<io::File> file,
                               io::FileRole role) {
  if (role == io::FileRole::kUpdate && g_plan.dev_kill_after != UINT64_MAX) {
    file = std::make_unique<KillAfterWrites>(std::move(file),
                                             g_plan.dev_kill_after);
  }
  auto f = std::make_unique<CountedFaultFile>(std::move(file), role);
  if (role == io::FileRole::kInput) {
    for (const auto& fault : g_plan.in_faults) f->AddFault(fault);
    f->set_max_read(g_plan.in_short);
  } else {
    for (const auto& fault : g_plan.out_faults) f->AddFault(fault);
    if (g_plan.crash_at != UINT64_MAX) {
      std::function<void()> hook;
      if (g_plan.kill) hook = [] { std::raise(SIGKILL); };
      if (g_plan.stall) {
        hook = [] {
          for (;;) pause();
        };
      }
      f->CrashAtWrite(g_plan.crash_at, hook);
    }
  }
  return f;
}

bool ParseNumber(const std::string& s, uint64_t* v) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  *v = std::strtoull(s.c_str(), nullptr, 10);
  return true;
}

bool ParseErrno(const std::string& s, int* err) {
  static const std::map<std::string, int> kNames = {
      {"EIO", EIO},       {"ENOSPC", ENOSPC}, {"EFBIG", EFBIG},
      {"EROFS", EROFS},   {"EDQUOT", EDQUOT}, {"ENXIO", ENXIO},
      {"EINTR", EINTR},   {"EAGAIN", EAGAIN}, {"EINVAL", EINVAL},
  };
  auto it = kNames.find(s);
  if (it == kNames.end()) return false;
  *err = it->second;
  return true;
}

bool ParseItem(const std::string& item, Plan* plan) {
  std::vector<std::string> f;
  std::stringstream ss(item);
  for (std::string part; std::getline(ss, part, ':');) f.push_back(part);
  if (f.size() == 1 && f[0] == "report") {
    plan->report = true;
    return true;
  }
  if (f.size() == 3 && f[0] == "dev" && f[1] == "kill") {
    return ParseNumber(f[2], &plan->dev_kill_after);
  }
  if (f.size() < 3 || (f[0] != "in" && f[0] != "out")) return false;
  const bool in = f[0] == "in";
  uint64_t n = 0;
  if (f.size() == 3) {
    if (!ParseNumber(f[2], &n)) return false;
    if (in && f[1] == "short" && n > 0) {
      plan->in_short = n;
      return true;
    }
    if (!in && (f[1] == "crash" || f[1] == "kill" || f[1] == "stall")) {
      plan->crash_at = n;
      plan->kill = f[1] == "kill";
      plan->stall = f[1] == "stall";
      return true;
    }
    return false;
  }
  if (f.size() > 5) return false;
  FaultFile::Fault fault;
  if (f[1] == "read") {
    fault.op = FaultFile::Op::kRead;
  } else if (f[1] == "write") {
    fault.op = FaultFile::Op::kWrite;
  } else if (f[1] == "sync") {
    fault.op = FaultFile::Op::kSync;
  } else if (f[1] == "truncate") {
    fault.op = FaultFile::Op::kTruncate;
  } else {
    return false;
  }
  if (!ParseErrno(f[2], &fault.err) || !ParseNumber(f[3], &fault.nth)) {
    return false;
  }
  if (f.size() == 5) {
    uint64_t part = 0;
    if (f[4] == "torn" && fault.op == FaultFile::Op::kWrite) {
      fault.torn = true;
    } else if (ParseNumber(f[4], &part)) {
      fault.partial = part;
    } else {
      return false;
    }
  }
  (in ? plan->in_faults : plan->out_faults).push_back(fault);
  return true;
}

}  // namespace

Status InstallFaultHook(const std::string& spec) {
  Plan plan;
  std::stringstream ss(spec);
  for (std::string item; std::getline(ss, item, ',');) {
    if (item.empty()) continue;
    if (!ParseItem(item, &plan)) {
      return Status::InvalidArgument("E2Q_FAULT: cannot parse '" + item + "'");
    }
  }
  g_plan = plan;
  io::SetFileInterposer(Wrap);
  return Status::OK();
}

std::string FaultReport() {
  if (!g_plan.report) return "";
  std::lock_guard<std::mutex> lock(g_mu);
  return "fault hook: " + std::to_string(g_max_reads) + " reads, " +
         std::to_string(g_max_writes) + " writes, " +
         std::to_string(g_max_syncs) + " syncs, " +
         std::to_string(g_max_truncates) + " truncates";
}

}  // namespace e2q::cli
