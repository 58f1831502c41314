// The generator's self-check of doc/next3-format.md 9.5 on the finished image,
// read back from disk independently of the engine's in-memory state: list
// shape, exclude bitmap == blocks of snapshot files, unique owners, unused
// slots zero, and every in-use block of every exportable snap-ID.img
// reproduced by the read-through rule (3.3).
#ifndef E2Q_TESTS_TOOLS_NEXT3GEN_CHECK_H_
#define E2Q_TESTS_TOOLS_NEXT3GEN_CHECK_H_

#include <string>
#include <vector>

namespace n3g {

// Returns the violations found (empty = all invariants hold).  When stats
// is given, one line per listed snapshot is appended to it:
// "ID moved=M copied=C indirect=I" (map entries with p == b, p != b, and
// the snapshot file's indirect blocks).
std::vector<std::string> CheckImage(const std::string& image,
                                    const std::string& expect_dir,
                                    std::string* stats = nullptr);

}  // namespace n3g

#endif  // E2Q_TESTS_TOOLS_NEXT3GEN_CHECK_H_
