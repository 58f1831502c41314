// Tests for lib/file; being written.
#include <gtest/gtest.h>
