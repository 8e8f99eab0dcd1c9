# The targets people run. `make demo` runs the main job end to end; `make test` runs all tests
# against the real services (PostgreSQL, RabbitMQ, dynalite, moto), started by scripts/services.sh.
.PHONY: services demo demo-stop test lint fmt build release faults bench clean-local api-check openapi deploy-check

services:
	scripts/services.sh

build:
	cargo build --workspace --bins

release:
	cargo build --release --workspace --bins

demo:
	scripts/demo.sh

# stops the api, worker and simulator a `make demo` left running for its console
demo-stop:
	scripts/demo.sh stop

# every test: the isolated integration tests in parallel, then the fault tests (they restart
# shared services and kill worker processes) one at a time
test: services
	cargo build --workspace --bins
	cargo test --workspace --no-fail-fast
	cargo test -p migrator-testkit --features faults --test faults -- --test-threads=1
	# the attachment paths again on the other backend: object storage (moto's S3)
	MIGRATOR_TEST_BLOBS=s3 cargo test -p migrator-testkit --no-fail-fast --test e2e_flow --test security
	MIGRATOR_TEST_BLOBS=s3 cargo test -p migrator-testkit --features faults --test faults -- --test-threads=1 killed_mid_all_messages
	scripts/api-check.sh
	scripts/deploy-check.sh

# the api against its own OpenAPI document (schemathesis), as the app and as an operator
api-check: services
	cargo build --workspace --bins
	scripts/api-check.sh

# deploy/k8s against the Kubernetes API schemas (kubernetes-validate)
deploy-check: services
	scripts/deploy-check.sh

# regenerates crates/api/openapi.json from the code (a test fails while it is stale)
openapi:
	cargo run -q -p migrator-api -- openapi > crates/api/openapi.json

faults: services
	cargo build --workspace --bins
	cargo test -p migrator-testkit --features faults --test faults -- --test-threads=1

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --all-features -- -D warnings
	python3 scripts/module-cycles.py
	scripts/deny.sh

fmt:
	cargo fmt --all

# stops the emulators started by scripts/services.sh and removes their installs
clean-local:
	-kill $$(cat .local/run/*.pid 2>/dev/null) 2>/dev/null
	rm -rf .local var

bench:
	scripts/bench.sh
