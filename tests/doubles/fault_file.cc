// FaultFile: failures on demand in front of another File.
#include "tests/doubles/fault_file.h"

#include <algorithm>

namespace e2q {

namespace {

size_t Index(FaultFile::Op op) { return static_cast<size_t>(op); }

}  // namespace

FaultFile::FaultFile(io::File* base) : io::ForwardingFile(base) {}

// The base class is initialised first, so base.get() is read before the move.
FaultFile::FaultFile(std::unique_ptr<io::File> base)
    : io::ForwardingFile(base.get()), owned_(std::move(base)) {}

void FaultFile::AddFault(const Fault& fault) {
  std::lock_guard<std::mutex> lock(mu_);
  faults_.push_back(fault);
}

void FaultFile::set_max_read(size_t max) {
  std::lock_guard<std::mutex> lock(mu_);
  max_read_ = max;
}

void FaultFile::CrashAtWrite(uint64_t n, std::function<void()> on_crash) {
  std::lock_guard<std::mutex> lock(mu_);
  crash_at_ = n;
  on_crash_ = std::move(on_crash);
}

uint64_t FaultFile::reads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_[Index(Op::kRead)];
}
uint64_t FaultFile::writes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_[Index(Op::kWrite)];
}
uint64_t FaultFile::syncs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_[Index(Op::kSync)];
}
uint64_t FaultFile::truncates() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_[Index(Op::kTruncate)];
}
bool FaultFile::crashed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return crashed_;
}

const FaultFile::Fault* FaultFile::Find(Op op, uint64_t n) const {
  for (const Fault& f : faults_) {
    if (f.op == op && (n == f.nth || (f.sticky && n > f.nth))) return &f;
  }
  return nullptr;
}

Status FaultFile::Fail(const std::string& op, uint64_t offset, int err) const {
  std::string what = op;
  if (op == "read" || op == "write") {
    what += " at offset " + std::to_string(offset);
  }
  return Status::FromErrno(name(), what, err);
}

Result<size_t> FaultFile::ReadSome(uint64_t offset, void* buf, size_t len) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t n = counts_[Index(Op::kRead)]++;
    if (const Fault* f = Find(Op::kRead, n)) {
      return Fail("read", offset, f->err);
    }
    if (max_read_ != 0) len = std::min(len, max_read_);
  }
  return io::ForwardingFile::ReadSome(offset, buf, len);
}

Status FaultFile::WriteAt(uint64_t offset, const void* buf, size_t len) {
  std::function<void()> crash_hook;
  size_t partial = 0;
  int err = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t n = counts_[Index(Op::kWrite)]++;
    if (!crashed_ && n >= crash_at_) {
      crashed_ = true;
      crash_hook = std::move(on_crash_);
    }
    if (crashed_) {
      err = EIO;
    } else if (const Fault* f = Find(Op::kWrite, n)) {
      err = f->err;
      partial = f->torn ? len / 2 : std::min(len, f->partial);
    }
  }
  if (crash_hook) crash_hook();
  if (err == 0) return io::ForwardingFile::WriteAt(offset, buf, len);
  if (partial > 0) {
    E2Q_RETURN_IF_ERROR(io::ForwardingFile::WriteAt(offset, buf, partial));
  }
  return Fail("write", offset + partial, err);
}

Status FaultFile::Sync() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t n = counts_[Index(Op::kSync)]++;
    if (crashed_) return Fail("fsync", 0, EIO);
    if (const Fault* f = Find(Op::kSync, n)) return Fail("fsync", 0, f->err);
  }
  return io::ForwardingFile::Sync();
}

Status FaultFile::Truncate(uint64_t size) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t n = counts_[Index(Op::kTruncate)]++;
    if (crashed_) return Fail("set length", 0, EIO);
    if (const Fault* f = Find(Op::kTruncate, n)) {
      return Fail("set length", 0, f->err);
    }
  }
  return io::ForwardingFile::Truncate(size);
}

}  // namespace e2q
