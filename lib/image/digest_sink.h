// DigestSink: an ImageSink in front of another that computes the content
// digest (lib/image/content_digest.h) of everything written through it, so an
// export or a conversion gets its digest from the data already flowing to
// the image, without a second pass.  Whole chunks are hashed on a helper
// thread while the inner sink stores the same bytes.
#ifndef E2Q_LIB_IMAGE_DIGEST_SINK_H_
#define E2Q_LIB_IMAGE_DIGEST_SINK_H_

#include <functional>
#include <memory>

#include "lib/base/status.h"
#include "lib/image/content_digest.h"
#include "lib/image/image_sink.h"

namespace e2q::image {

// Called with the digest when the sink finishes, before the inner sink's
// Finish() (so it may still set the qcow2 writer's header extensions).
using DigestReady = std::function<Status(const Digest128& digest)>;

// Forwards every Write to `inner` (not owned) unchanged.  `guest_size` is
// the size of the disk being written.  `threads` helper threads hash
// (1 is plenty: XXH3 outruns the disk).
Result<std::unique_ptr<ImageSink>> NewDigestSink(ImageSink* inner,
                                                 uint64_t guest_size,
                                                 unsigned threads,
                                                 DigestReady on_digest);

}  // namespace e2q::image

#endif  // E2Q_LIB_IMAGE_DIGEST_SINK_H_
