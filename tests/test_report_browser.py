"""report.html in a real headless Chromium: sorting and filtering change what is shown, the
family toggle reaches tables and plots, plots show values on hover, and the console stays clean.

The suite folder is written by hand (run.json, metrics, profile, history of made-up runs): the
report is what is under test, not training. Skips, with the reason, when Chromium, its driver or
selenium are missing (`make test` installs them through apt when it can).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from visionbench.bench.report import write_report

RUNS = [  # task, model, family, dataset, metric, value, latency ms, params
    ("classification", "lenet5", "classic_cnn", "digits", "accuracy", 0.97, 0.5, 61_750),
    ("classification", "vit_nano", "vit", "digits", "accuracy", 0.91, 2.0, 400_000),
    ("classification", "resnet_tiny", "modern_cnn", "digits", "accuracy", 0.95, 1.2, 180_000),
    ("restoration", "dae", "classic_autoencoder", "photos", "psnr", 27.5, 3.0, 90_000),
    ("restoration", "unet_attention", "modern_autoencoder", "photos", "psnr", 29.1, 9.0, 900_000),
]


def write_fake_suite(root: Path, runs: list[tuple] = RUNS) -> Path:
    suite = root / "fake"
    for task, model, family, dataset, metric, value, latency, params in runs:
        run = suite / task / f"{model}__{dataset}__s0"
        run.mkdir(parents=True)
        sizes = {"train": 100, "val": 20, "test": 50}
        (run / "run.json").write_text(
            json.dumps(
                {
                    "task": task,
                    "model": model,
                    "family": family,
                    "dataset": dataset,
                    "data": {
                        "name": dataset,
                        "sizes": sizes,
                        "split": "made up",
                        "in_chans": 1,
                        "img_size": 8,
                        "num_classes": 10,
                    },
                    "seed": 0,
                    "ranking_metric": metric,
                    "higher_is_better": True,
                }
            )
        )
        (run / "config.yaml").write_text(yaml.safe_dump({"seed": 0, "time_budget": 10}))
        (run / "metrics.json").write_text(json.dumps({metric: value}))
        (run / "profile.json").write_text(
            json.dumps(
                {
                    "params": params,
                    "flops": params * 20,
                    "weights_mb": params * 4 / 2**20,
                    "latency_ms": {"median": latency, "p90": latency * 1.2},
                    "throughput": {"images_per_s": 1000 / latency, "batch": 32},
                    "peak_memory_mb": 1.0,
                }
            )
        )
        (run / "status.json").write_text(
            json.dumps(
                {
                    "status": "done",
                    "epochs": 3,
                    "train_seconds": 1.0,
                    "stopped": "completed",
                    "command": f"visionbench train {task} --model {model}",
                }
            )
        )
        (run / "history.csv").write_text(
            f"epoch,train_loss,val_{metric}\n"
            + "".join(f"{e},{1 / e},{value * (0.8 + 0.1 * (e - 1))}\n" for e in (1, 2, 3))
        )
    (suite / "suite.json").write_text(json.dumps({"suite": "fake", "description": "made up"}))
    return suite


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        pytest.skip("no chromium / chromedriver on PATH (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    from selenium.webdriver.chrome.service import Service

    try:
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
    except Exception as e:  # a driver that does not match the browser, a missing library...
        pytest.skip(f"headless Chromium does not start here: {str(e).splitlines()[0]}")
    yield driver
    driver.quit()


def _rows(driver, board: int) -> list[str]:
    from selenium.webdriver.common.by import By

    table = driver.find_elements(By.CSS_SELECTOR, "table.leaderboard")[board]
    return [
        r.get_attribute("data-model")
        for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")
        if r.is_displayed()
    ]


def test_report_sorts_filters_toggles_and_has_no_console_errors(tmp_path, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    html = write_report(write_fake_suite(tmp_path))
    text = html.read_text()
    assert "http://" not in text.replace('"http://www.w3.org/2000/svg"', "")
    assert "https://" not in text and "<script src" not in text  # one offline file
    browser.get(html.resolve().as_uri())
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []

    # the classification board, ranked best first; sorting by params reorders it
    assert _rows(browser, 0) == ["lenet5", "resnet_tiny", "vit_nano"]
    params = browser.find_elements(By.CSS_SELECTOR, "table.leaderboard")[0].find_elements(
        By.XPATH, ".//thead//th[normalize-space()='params']"
    )[0]
    params.click()
    assert _rows(browser, 0) == ["lenet5", "resnet_tiny", "vit_nano"]  # ascending params
    params.click()
    assert _rows(browser, 0) == ["vit_nano", "resnet_tiny", "lenet5"]  # descending

    # the family toggle hides the ViT's row, its Table 1 row and its point in the plots
    vit_points = browser.find_elements(By.CSS_SELECTOR, "svg g.pt[data-family='vit']")
    assert len(vit_points) == 2 and all(p.is_displayed() for p in vit_points)
    browser.find_element(By.CSS_SELECTOR, ".f-family[value='vit']").click()
    assert _rows(browser, 0) == ["resnet_tiny", "lenet5"]
    assert not any(p.is_displayed() for p in vit_points)
    assert not any(
        r.is_displayed()
        for r in browser.find_elements(By.CSS_SELECTOR, "#table1-table tr[data-family='vit']")
    )
    browser.find_element(By.CSS_SELECTOR, ".f-family[value='vit']").click()

    # filtering by task hides the other task's board; the model filter narrows rows
    boards = browser.find_elements(By.CSS_SELECTOR, "section.board[id]")
    Select(browser.find_element(By.ID, "f-task")).select_by_visible_text("restoration")
    assert [b.is_displayed() for b in boards] == [False, True]
    Select(browser.find_element(By.ID, "f-task")).select_by_visible_text("all")
    Select(browser.find_element(By.ID, "f-dataset")).select_by_visible_text("digits")
    assert [b.is_displayed() for b in boards] == [True, False]
    Select(browser.find_element(By.ID, "f-dataset")).select_by_visible_text("all")
    browser.find_element(By.ID, "f-text").send_keys("net")
    assert _rows(browser, 0) == ["resnet_tiny", "lenet5"] and _rows(browser, 1) == [
        "unet_attention"
    ]
    assert "3 of 5 leaderboard rows shown" in browser.find_element(By.ID, "f-count").text

    # hovering a point shows its values
    from selenium.webdriver import ActionChains

    point = browser.find_element(By.CSS_SELECTOR, "svg g.pt[data-family='classic_cnn'] circle")
    ActionChains(browser).move_to_element(point).perform()
    tip = browser.find_element(By.ID, "tooltip")
    assert tip.is_displayed() and "lenet5" in tip.text and "accuracy 0.97" in tip.text
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_plot_labels_stay_inside_the_plot_and_clear_of_each_other(tmp_path, browser):
    """Two models at the same point wrote their names over each other, and a long name at the
    right edge was cut (mobilenetv4_conv_small_050 in the suite's report)."""
    from selenium.webdriver.common.by import By

    runs = [
        ("classification", "lenet5", "classic_cnn", "digits", "accuracy", 0.97, 0.5, 60_000),
        ("classification", "capsnet_tiny", "capsule", "digits", "accuracy", 0.97, 0.5, 60_000),
        ("classification", "mobilenetv4_conv_small_050", "mobile_cnn", "digits", "accuracy",
         0.99, 4.0, 900_000),
        ("classification", "vit_nano", "vit", "digits", "accuracy", 0.93, 1.0, 300_000),
    ]  # fmt: skip
    browser.get(write_report(write_fake_suite(tmp_path, runs)).resolve().as_uri())
    plots = browser.find_elements(By.CSS_SELECTOR, ".chart[data-kind='scatter'] svg")
    assert len(plots) == 2  # latency and parameters
    for svg in plots:
        width = float(svg.get_attribute("width"))
        boxes = browser.execute_script(
            "return Array.from(arguments[0].querySelectorAll('g.pt text')).map(function (t) {"
            "var b = t.getBBox(); return [t.textContent, b.x, b.y, b.x + b.width, b.y + b.height];"
            "});",
            svg,
        )
        assert sorted(b[0] for b in boxes) == sorted(r[1] for r in runs)
        for name, x0, _, x1, _ in boxes:
            assert x0 >= 0 and x1 <= width, f"{name} runs out of the plot: {x0:.0f}-{x1:.0f}"
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                apart = a[3] <= b[1] or b[3] <= a[1] or a[4] <= b[2] or b[4] <= a[2]
                assert apart, f"{a[0]} and {b[0]} overlap"
