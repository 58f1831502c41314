// BaseContent: windowed, map-driven reads of a backing image.
#include "lib/image/base_content.h"

#include <algorithm>
#include <cstring>

#include "lib/base/is_zero.h"

namespace e2q::image {

namespace {

constexpr uint64_t kWindowBytes = 8u << 20;

}  // namespace

BaseContent::BaseContent(qcow2::Qcow2Reader* base, uint32_t cluster_bits)
    : base_(base),
      bits_(cluster_bits),
      cs_(uint64_t{1} << cluster_bits),
      base_size_(base->virtual_size()),
      win_max_(std::max<uint64_t>(1, kWindowBytes >> cluster_bits)) {
  buf_.resize(win_max_ * cs_);
  has_data_.resize(win_max_);
}

// Fills the window starting at cluster `index`: Map() the stretch, then
// read each data extent straight into place.  Only clusters touched by a
// data extent are zero-filled first (for the parts of them that are not).
Status BaseContent::Load(uint64_t index) {
  win_first_ = index;
  const uint64_t start = index << bits_;
  win_n_ = 0;
  std::fill(has_data_.begin(), has_data_.end(), 0);
  if (start >= base_size_) {
    win_n_ = win_max_;
    return Status::OK();
  }
  const uint64_t end = std::min(base_size_, start + win_max_ * cs_);
  win_n_ = win_max_;
  uint64_t pos = start;
  while (pos < end) {
    E2Q_ASSIGN_OR_RETURN(qcow2::Qcow2Reader::Extent e,
                         base_->Map(pos, end - pos));
    if (e.len == 0) {
      return Status::Corruption(base_->name() + ": map: empty extent");
    }
    if (e.kind == qcow2::Qcow2Reader::ExtentKind::kData) {
      const uint64_t c0 = (pos - start) >> bits_;
      const uint64_t c1 = ((pos + e.len - 1 - start) >> bits_) + 1;
      for (uint64_t c = c0; c < c1; ++c) {
        if (!has_data_[c]) {
          std::memset(&buf_[c * cs_], 0, cs_);
          has_data_[c] = 1;
        }
      }
      E2Q_RETURN_IF_ERROR(base_->Read(pos, &buf_[pos - start], e.len));
    }
    pos += e.len;
  }
  return Status::OK();
}

Result<const uint8_t*> BaseContent::Cluster(uint64_t index) {
  if (win_n_ == 0 || index < win_first_ || index >= win_first_ + win_n_) {
    E2Q_RETURN_IF_ERROR(Load(index));
  }
  const uint64_t k = index - win_first_;
  if (!has_data_[k]) return static_cast<const uint8_t*>(nullptr);
  return static_cast<const uint8_t*>(&buf_[k * cs_]);
}

Status BaseContent::ForEachNonZero(uint64_t first, uint64_t end,
                                   const std::function<Status(uint64_t)>& fn) {
  const uint64_t limit = std::min(end << bits_, base_size_);
  uint64_t pos = first << bits_;
  while (pos < limit) {
    E2Q_ASSIGN_OR_RETURN(qcow2::Qcow2Reader::Extent e,
                         base_->Map(pos, limit - pos));
    if (e.len == 0) {
      return Status::Corruption(base_->name() + ": map: empty extent");
    }
    if (e.kind == qcow2::Qcow2Reader::ExtentKind::kData) {
      const uint64_t c1 = ((pos + e.len - 1) >> bits_) + 1;
      for (uint64_t c = pos >> bits_; c < c1; ++c) {
        E2Q_ASSIGN_OR_RETURN(const uint8_t* p, Cluster(c));
        if (p != nullptr && !IsZero(p, cs_)) E2Q_RETURN_IF_ERROR(fn(c));
      }
      // The next extent may start inside the last cluster handled.
      pos = std::max(pos + e.len, c1 << bits_);
    } else {
      pos += e.len;
    }
  }
  return Status::OK();
}

}  // namespace e2q::image
