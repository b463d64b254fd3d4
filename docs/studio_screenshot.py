"""Take docs/studio.png: a real studio, a photo uploaded, its path previewed, a live flight on.

    python docs/studio_screenshot.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.studio_server import Studio, browser  # noqa: E402
from tests.test_studio import ROCKET, _wait  # noqa: E402


def main() -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    with tempfile.TemporaryDirectory() as tmp:
        studio = Studio(Path(tmp) / "work")
        driver = browser(Path(tmp) / "downloads")
        try:
            driver.set_window_size(1500, 900)
            driver.get(studio.url)
            _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#config option"))
            driver.find_element(By.ID, "photo").send_keys(str(ROCKET))
            _wait(driver, lambda d: "photo rocket.jpg" in d.find_element(By.ID, "start-status").text)
            driver.find_element(By.ID, "prompt").send_keys("a launch pad at dusk")
            driver.find_element(By.ID, "preview-btn").click()
            _wait(driver, lambda d: d.find_element(By.ID, "path-plot").is_displayed())
            driver.find_element(By.ID, "live-start").click()
            _wait(driver, lambda d: d.execute_script("return window.studio.stats.frames") > 3)
            driver.find_element(By.ID, "live-view").click()
            ActionChains(driver).key_down("w").pause(1.5).key_up("w").key_down(Keys.ARROW_RIGHT).pause(1.0).perform()
            time.sleep(0.5)
            driver.save_screenshot(str(ROOT / "docs" / "studio.png"))
        finally:
            driver.quit()
            studio.stop()


if __name__ == "__main__":
    main()
