// Qcow2Reader, part three: reading compressed clusters in batches.  qemu
// packs compressed clusters back to back, so a batch's data is usually one
// stretch of the file: it is read in a few large reads, then inflated on
// several threads straight into the caller's buffer.
#include <algorithm>
#include <cstring>

#include "lib/qcow2/qcow2_decompress.h"
#include "lib/qcow2/qcow2_reader.h"

namespace e2q::qcow2 {

namespace {

// Neighbouring compressed data closer than this is read in one go, gap
// included; a read never exceeds kMaxGroupBytes unless one cluster does.
constexpr uint64_t kMaxGapBytes = 64 * 1024;
constexpr uint64_t kMaxGroupBytes = 16u << 20;

}  // namespace

Status Qcow2Reader::ReadCompressed(std::vector<CompressedRead>* reads) {
  if (reads->empty()) return Status::OK();
  const uint64_t cs = header_.cluster_size();
  const CompressedLayout layout(header_.cluster_bits);

  // A cluster split by the caller's read boundaries is often asked for
  // twice in a row; the last partly read one is kept.
  std::vector<CompressedRead> todo;
  for (const CompressedRead& r : *reads) {
    if (cbuf_valid_ && r.entry == cbuf_entry_) {
      std::memcpy(r.buf, cbuf_.data() + r.in_cluster, r.len);
    } else {
      todo.push_back(r);
    }
  }
  reads->clear();
  if (todo.empty()) return Status::OK();

  // Group neighbouring data into reads.  Lookup has checked each range
  // against the file; bytes past its end read as zeros, as in qemu.
  struct Group {
    uint64_t start, end;
    std::vector<uint8_t> data;
  };
  std::vector<Group> groups;
  std::vector<size_t> group_of(todo.size());
  for (size_t i = 0; i < todo.size(); ++i) {
    const uint64_t off = layout.Offset(todo[i].entry);
    const uint64_t end = off + layout.Length(todo[i].entry);
    if (!groups.empty()) {
      Group& g = groups.back();
      if (off >= g.start && off <= g.end + kMaxGapBytes &&
          std::max(g.end, end) - g.start <= kMaxGroupBytes) {
        g.end = std::max(g.end, end);
        group_of[i] = groups.size() - 1;
        continue;
      }
    }
    groups.push_back(Group{off, end, {}});
    group_of[i] = groups.size() - 1;
  }
  for (Group& g : groups) {
    g.data.resize(g.end - g.start);
    E2Q_RETURN_IF_ERROR(ReadHost(g.start, g.data.data(), g.data.size()));
  }

  // Whole clusters inflate into place; partial ones into scratch space
  // (at most the first and the last cluster of each Read call).
  std::vector<BatchDecompressor::Job> jobs(todo.size());
  std::vector<std::vector<uint8_t>> scratch;
  std::vector<size_t> scratch_of(todo.size(), SIZE_MAX);
  for (size_t i = 0; i < todo.size(); ++i) {
    const CompressedRead& r = todo[i];
    const Group& g = groups[group_of[i]];
    const uint64_t off = layout.Offset(r.entry);
    jobs[i].in = g.data.data() + (off - g.start);
    jobs[i].in_len = layout.Length(r.entry);
    if (r.in_cluster == 0 && r.len == cs) {
      jobs[i].out = r.buf;
    } else {
      scratch_of[i] = scratch.size();
      scratch.emplace_back(cs);
      jobs[i].out = scratch.back().data();
    }
  }
  size_t failed = decompressor_->Run(&jobs, cs);
  if (failed < jobs.size()) {
    cbuf_valid_ = false;
    return Corrupt("compressed cluster at " +
                   Hex(layout.Offset(todo[failed].entry)) + ": " +
                   jobs[failed].status.message());
  }
  for (size_t i = 0; i < todo.size(); ++i) {
    if (scratch_of[i] == SIZE_MAX) continue;
    std::vector<uint8_t>& s = scratch[scratch_of[i]];
    std::memcpy(todo[i].buf, s.data() + todo[i].in_cluster, todo[i].len);
    cbuf_.swap(s);
    cbuf_entry_ = todo[i].entry;
    cbuf_valid_ = true;
  }
  return Status::OK();
}

}  // namespace e2q::qcow2
