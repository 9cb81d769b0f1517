"""Fault -> consumer notified, end to end on real processes (the implementation is shared with
``stateward bench fault``: ``stateward/bench/fault.py``).

    PYTHONPATH=$PWD python -m bench.fault --vms 50 --runs 30                      # embedded
    PYTHONPATH=$PWD python -m bench.fault --vms 50 --runs 30 --backend pg-nats --processes 2
    PYTHONPATH=$PWD python -m bench.fault --vms 1000 --runs 30 --source monitor --no-baseline
"""

from stateward.bench.fault import main

if __name__ == "__main__":
    raise SystemExit(main())
