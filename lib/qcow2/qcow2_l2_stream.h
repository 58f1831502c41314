// Qcow2L2Stream: the L1/L2 bookkeeping of a streaming qcow2 writer.
//
// A writer that adds guest clusters in strictly increasing order needs only
// one L2 table in memory: the stream fills it, and as soon as the guest
// moves into another L1 slot it appends the finished table to the file
// (through the Qcow2FileBuilder, which counts its reference) and records it
// in the L1 table it builds.  A slot that receives no entry gets no table
// (L1 entry 0).  Qcow2Writer and each state of Qcow2MultiWriter use it; the
// data clusters themselves, and what their entries say, stay theirs.
#ifndef E2Q_LIB_QCOW2_QCOW2_L2_STREAM_H_
#define E2Q_LIB_QCOW2_QCOW2_L2_STREAM_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "lib/base/status.h"
#include "lib/qcow2/qcow2_file_builder.h"

namespace e2q::qcow2 {

class Qcow2L2Stream {
 public:
  // Asked about each finished table before it is appended: returns the L1
  // entry of an equal table already in the file, which the hook has
  // referenced once more (the table is then shared, not written again), or
  // 0 to have the table appended.
  using ShareHook = std::function<Result<uint64_t>(
      uint64_t l1_index, const std::vector<uint64_t>& l2)>;

  // `file` (not owned) must outlive the stream.  The guest has
  // `guest_clusters` clusters (the L1 table gets one slot per L2 table's
  // worth of them; the caller has checked it against qemu's limit).
  // Appended tables get L1 entry `offset | l1_flags` (kOflagCopied when
  // nothing else will point at them).  `range` names the guest range in
  // errors ("the disk", "state 3").
  Qcow2L2Stream(Qcow2FileBuilder* file, uint64_t guest_clusters,
                uint64_t l1_flags, std::string range);

  void set_share_hook(ShareHook hook) { share_ = std::move(hook); }
  // Keeps up to `bytes` of finished tables in memory and appends them
  // together (0, the default: each at once).  Every table appended needs a
  // cluster boundary, so a sparse guest whose tables hold one entry each
  // would otherwise pad every compressed cluster out to a whole cluster.
  void set_pending_bytes(uint64_t bytes) { pending_bytes_ = bytes; }

  uint64_t l2_entries() const { return l2_entries_; }
  uint64_t guest_clusters() const { return guest_clusters_; }
  // True once Take() has accepted a cluster.
  bool any_taken() const { return any_taken_; }

  // Takes guest clusters [index, index + n) (n >= 1) as the next ones: they
  // must come after every cluster taken before, lie below guest_clusters()
  // and within one L2 table.  When they lie in another L1 slot than the
  // table being filled, that table is completed first.  kInvalidArgument
  // ("NAME: qcow2: guest cluster N out of order or past the end of RANGE")
  // when out of order; errors of the file when the table cannot be written.
  Status Take(uint64_t index, uint64_t n = 1);

  // Sets the L2 entry of guest cluster `index`, which the last Take()
  // covered.
  void Set(uint64_t index, uint64_t entry) {
    l2_[index % l2_entries_] = entry;
    dirty_ = true;
  }

  // Completes the table being filled, if any entry was set in it.
  Status Flush();
  // Flush(), then appends the tables kept back.  Call it before reading
  // l1() for the last time.
  Status Close();

  // The L1 table: one entry per slot, 0 where no table was written.
  const std::vector<uint64_t>& l1() const { return l1_; }
  // Moves the L1 table out (the stream is done then).
  std::vector<uint64_t> TakeL1() { return std::move(l1_); }

 private:
  Qcow2FileBuilder* file_;
  const uint64_t guest_clusters_;
  const uint64_t l2_entries_;
  const uint64_t l1_flags_;
  const std::string range_;
  ShareHook share_;
  uint64_t pending_bytes_ = 0;
  // Finished tables not appended yet: L1 index and entries, in the first
  // pending_count_ slots; the slots after them keep their vectors for reuse.
  std::vector<std::pair<uint64_t, std::vector<uint64_t>>> pending_;
  size_t pending_count_ = 0;

  // Shares or appends `l2` and points L1 slot `l1_index` at it.
  Status Place(uint64_t l1_index, const std::vector<uint64_t>& l2);
  Status WritePending();

  std::vector<uint64_t> l1_;
  // The table being filled: the entries of L1 slot l2_index_.
  std::vector<uint64_t> l2_;
  uint64_t l2_index_ = 0;
  bool dirty_ = false;
  bool any_taken_ = false;
  uint64_t last_index_ = 0;
};

}  // namespace e2q::qcow2

#endif  // E2Q_LIB_QCOW2_QCOW2_L2_STREAM_H_
