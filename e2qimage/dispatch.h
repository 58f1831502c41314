// The whole program behind main(): e2qimage/main.cc calls it, and so does
// the fault-injection test build (tests/tools/e2qimage_fault), which wraps
// it with its own set-up instead of shipping a hook in the product.
#ifndef E2Q_E2QIMAGE_DISPATCH_H_
#define E2Q_E2QIMAGE_DISPATCH_H_

namespace e2q::cli {

// Parses argv, runs the mode, prints any error; returns the exit status
// (0 success, 1 error, 2 usage error).
int Main(int argc, char** argv);

}  // namespace e2q::cli

#endif  // E2Q_E2QIMAGE_DISPATCH_H_
