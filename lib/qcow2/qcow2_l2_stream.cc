// Qcow2L2Stream: one L2 table in memory, appended when the guest leaves
// its range; the L1 table built as the tables are written.
#include "lib/qcow2/qcow2_l2_stream.h"

#include <algorithm>

#include "lib/qcow2/qcow2_format.h"

namespace e2q::qcow2 {

Qcow2L2Stream::Qcow2L2Stream(Qcow2FileBuilder* file, uint64_t guest_clusters,
                             uint64_t l1_flags, std::string range)
    : file_(file),
      guest_clusters_(guest_clusters),
      l2_entries_(L2Entries(file->cluster_bits())),
      l1_flags_(l1_flags),
      range_(std::move(range)) {
  l1_.assign((guest_clusters_ + l2_entries_ - 1) / l2_entries_, 0);
  l2_.assign(l2_entries_, 0);
}

Status Qcow2L2Stream::Take(uint64_t index, uint64_t n) {
  const std::string& name = file_->file()->name();
  if (index >= guest_clusters_ || (any_taken_ && index <= last_index_)) {
    return Status::InvalidArgument(
        name + ": qcow2: guest cluster " + std::to_string(index) +
        " out of order or past the end of " + range_);
  }
  // The writers split their runs at table ends and check the end of the
  // guest first; these only keep a wrong caller from corrupting the table.
  if (n == 0 || n > guest_clusters_ - index) {
    return Status::InvalidArgument(
        name + ": qcow2: guest clusters past the end of " + range_);
  }
  if (n > l2_entries_ - index % l2_entries_) {
    return Status::InvalidArgument(
        name + ": qcow2: guest clusters " + std::to_string(index) + ".." +
        std::to_string(index + n - 1) + " span two L2 tables");
  }
  // Moving into another L2 table's range completes the current one.
  const uint64_t l1_index = index / l2_entries_;
  if (dirty_ && l1_index != l2_index_) E2Q_RETURN_IF_ERROR(Flush());
  l2_index_ = l1_index;
  any_taken_ = true;
  last_index_ = index + n - 1;
  return Status::OK();
}

// Shares an equal table the hook knows of, else appends this one; then
// points L1 at it.
Status Qcow2L2Stream::Place(uint64_t l1_index,
                            const std::vector<uint64_t>& l2) {
  uint64_t entry = 0;
  if (share_) {
    E2Q_ASSIGN_OR_RETURN(entry, share_(l1_index, l2));
  }
  if (entry == 0) {
    E2Q_ASSIGN_OR_RETURN(uint64_t host, file_->AppendTable(l2));
    entry = host | l1_flags_;
  }
  l1_[l1_index] = entry;
  return Status::OK();
}

Status Qcow2L2Stream::WritePending() {
  for (size_t i = 0; i < pending_count_; ++i) {
    E2Q_RETURN_IF_ERROR(Place(pending_[i].first, pending_[i].second));
  }
  pending_count_ = 0;
  return Status::OK();
}

// Completes the table being filled (placed now, or kept back) and starts
// an empty one.
Status Qcow2L2Stream::Flush() {
  if (!dirty_) return Status::OK();
  if (pending_bytes_ == 0) {
    E2Q_RETURN_IF_ERROR(Place(l2_index_, l2_));
  } else {
    // The table moves into a kept slot, whose old vector becomes the next
    // table: no allocation per table (fresh pages from malloc for every
    // batch of tables cost -Q of a /usr copy 5% of its time in page faults).
    if (pending_count_ == pending_.size()) pending_.emplace_back();
    auto& slot = pending_[pending_count_++];
    slot.first = l2_index_;
    slot.second.swap(l2_);
    l2_.resize(l2_entries_);
    if ((pending_count_ + 1) * l2_entries_ * 8 > pending_bytes_) {
      E2Q_RETURN_IF_ERROR(WritePending());
    }
  }
  std::fill(l2_.begin(), l2_.end(), 0);
  dirty_ = false;
  return Status::OK();
}

Status Qcow2L2Stream::Close() {
  E2Q_RETURN_IF_ERROR(Flush());
  return WritePending();
}

}  // namespace e2q::qcow2
