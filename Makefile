# Shortcuts for the README's two commands (which need no make).
.PHONY: demo test bench
demo:
	scripts/demo.sh
test:
	scripts/test.sh
bench:
	cargo bench --bench assess
