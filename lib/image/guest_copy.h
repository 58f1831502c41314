// Copying a qcow2 image's guest content (its active layer or the snapshot
// selected in the reader, through its backing chain) into any sink: the
// conversion of qcow2 input to raw or qcow2.
#ifndef E2Q_LIB_IMAGE_GUEST_COPY_H_
#define E2Q_LIB_IMAGE_GUEST_COPY_H_

#include <cstdint>
#include <functional>

#include "lib/base/status.h"
#include "lib/image/image_sink.h"
#include "lib/qcow2/qcow2_reader.h"

namespace e2q::image {

// Writes every data stretch of `reader` to `sink` in guest order, in
// chunks of up to 8 MiB; stretches the reader maps as zero are skipped
// without being read.  The next chunk is read (and decompressed) on a
// helper thread while the current one is written.  `progress`, if set,
// gets the guest bytes done (the virtual size at the end).  Does not
// finish the sink.
Status CopyGuestContent(qcow2::Qcow2Reader* reader, ImageSink* sink,
                        const std::function<void(uint64_t)>& progress);

}  // namespace e2q::image

#endif  // E2Q_LIB_IMAGE_GUEST_COPY_H_
