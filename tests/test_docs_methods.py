"""The method pages' commands (and your-space.md's), run as tests/test_docs.py runs the
others (a file of its own so that CI's two test processes share the pages)."""

import pytest

from test_docs import METHOD_PAGES, needs_data, run_page


@needs_data
@pytest.mark.parametrize("page", METHOD_PAGES)
def test_the_method_page_runs(tmp_path, page):
  run_page(tmp_path, page)
