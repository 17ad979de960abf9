# The two commands of the README.
.PHONY: demo test

# Assess the real Météo-France forecast for Freddy (2023-03-10 00Z) on the shared layers,
# then replay Freddy's best track; outputs in out/.
demo:
	scripts/setup.sh build
	cargo build --release
	./target/release/aviso assess --forecast ../shared/data/forecast-samples/meteofrance_rsmc_reunion_CMRSTRACK_SWI07_20222023_FREDDY_2023-03-10T00Z.json --layers layers --format table --out out/freddy_2023-03-10T00Z.geojson
	./target/release/aviso replay --track ../shared/data/tracks/ibtracs_v04r01_last3years_moz_region_2022-2025.csv --storm FREDDY --season 2023 --layers layers --out out/replay-freddy

# Everything: formatting, lints, unit and integration tests on ../shared/data.
test:
	scripts/setup.sh build test
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo test
