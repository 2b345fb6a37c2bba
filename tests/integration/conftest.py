"""Real nnU-Net on the CPU. The demo run these tests share (`demo_out`, `demo_runs`) is a session fixture
of tests/conftest.py: the container tests predict with it too."""
