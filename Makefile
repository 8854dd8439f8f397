# make report  - set up, get the data, run notebooks 01-12 top to bottom (QUICK=1: fast mode)
# make test    - set up, get the data, run the unit tests, and the notebooks and their
#                exercise solutions under nbval in quick mode
# make solutions - run the exercise solutions (solutions/) top to bottom (QUICK=1: fast mode)
# make app     - set up and start the Streamlit app (http://localhost:8501)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
SOLUTIONS := $(sort $(wildcard solutions/[0-9][0-9]_*.ipynb))

# Executes each notebook in a fresh kernel. TensorFlow's C++ start-up lines go to the
# terminal instead of the saved notebook (capture_fd_output=False).
EXECUTE := $(BIN)/jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=-1 \
	--ExecutePreprocessor.extra_arguments="['--IPKernelApp.capture_fd_output=False']"
ifeq ($(QUICK),1)
  EXECUTED := --output-dir scratch/notebooks
else
  EXECUTED := --inplace
endif

.PHONY: setup data report solutions test app app-screenshot

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -r requirements.txt
	$(BIN)/pip install --no-deps -e .
	touch $@

data: setup
	$(BIN)/python -m utils.data

report: data
	@for notebook in $(NOTEBOOKS); do \
		echo "== $$notebook"; start=$$(date +%s); \
		$(EXECUTE) $(EXECUTED) $$notebook || exit 1; \
		echo "== $$notebook took $$(( $$(date +%s) - start )) s"; \
	done

solutions: data
	@for notebook in $(SOLUTIONS); do \
		echo "== $$notebook"; start=$$(date +%s); \
		$(EXECUTE) $(EXECUTED) $$notebook || exit 1; \
		echo "== $$notebook took $$(( $$(date +%s) - start )) s"; \
	done

test: data
	$(BIN)/python -m pytest tests
	QUICK=1 $(BIN)/python -m pytest --nbval-lax notebooks solutions

app: setup
	$(BIN)/streamlit run app/streamlit_app.py

# Retake figures/app.png (README.md) with the browser test; needs Debian's chromium.
app-screenshot: setup
	APP_SCREENSHOT=figures/app.png $(BIN)/python -m pytest tests/test_app_browser.py
