# What scripts/test.sh exports for the suite (sourced; tests/test_ci_guards.py checks it).
export ZOS_REQUIRE_NATIVE=1  # the chain's C module must have been built here
export ZOS_REQUIRE_TARANTOOL=1  # tarantool is installed by test.sh: its engine's tests must run
export CI="${CI:-1}"  # the derandomised hypothesis profile (tests/conftest.py): repeatable runs
