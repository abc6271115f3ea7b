// main.cpp -- Catch2 runner for the unit tests (tests/unit/<module>_test.cpp).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
