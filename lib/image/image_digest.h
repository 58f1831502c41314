// The content digest (lib/image/content_digest.h) of a qcow2 image's guest
// content, as read through Qcow2Reader: what `e2qimage --verify` compares
// with the recorded one.
#ifndef E2Q_LIB_IMAGE_IMAGE_DIGEST_H_
#define E2Q_LIB_IMAGE_IMAGE_DIGEST_H_

#include <cstdint>
#include <functional>

#include "lib/base/status.h"
#include "lib/image/content_digest.h"
#include "lib/qcow2/qcow2_reader.h"

namespace e2q::image {

// Reads the guest content of `reader` (its active layer, or the snapshot
// it has selected, through its backing chain) and returns its digest.
// Stretches that Map() reports as zero are skipped unread; the rest is read
// in large runs and hashed on `threads` helper threads plus the caller.
// `progress`, if set, is called with the guest bytes done so far.
Result<Digest128> ComputeImageDigest(
    qcow2::Qcow2Reader* reader, unsigned threads,
    const std::function<void(uint64_t bytes_done)>& progress = nullptr);

}  // namespace e2q::image

#endif  // E2Q_LIB_IMAGE_IMAGE_DIGEST_H_
