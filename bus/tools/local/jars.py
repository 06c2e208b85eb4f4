"""Fetch the Apache Kafka broker and a log4j2 backend from Maven Central with ``mvn``.

The jars land in ``<cache>/kafka-<version>/libs`` once and are reused; a ``.complete`` marker
is written only after Maven succeeded, so an interrupted download is retried, not half-used.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from bus.errors import SetupError
from bus.tools.local.paths import cache_dir

KAFKA_VERSION = "4.3.1"
LOG4J_VERSION = "2.25.2"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.7.1"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.ecombus.local</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>{kafka}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-api</artifactId>
      <version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""

Progress = Callable[[str], None]
JAVA_ADVICE = "Java 17 runs the broker: apt-get install openjdk-17-jre-headless"
MAVEN_ADVICE = "Maven fetches the broker's jars: apt-get install maven"


def kafka_home(version: str = KAFKA_VERSION) -> Path:
    """The cache folder holding one Kafka version's ``libs/``."""
    return cache_dir() / f"kafka-{version}"


def ensure_kafka_jars(version: str = KAFKA_VERSION, progress: Progress | None = None) -> Path:
    """Return the folder of the broker's jars, downloading them first if needed.

    Args:
        version: the Apache Kafka release (``org.apache.kafka:kafka_2.13``).
        progress: called with one short line per downloaded artifact and at the end.

    Raises:
        SetupError: Java or Maven is missing, or Maven could not reach Maven Central.
    """
    say = progress or (lambda _line: None)
    home = kafka_home(version)
    libs = home / "libs"
    marker = home / ".complete"
    if marker.exists() and any(libs.glob("kafka_2.13-*.jar")):
        return libs
    require_tool("java", JAVA_ADVICE)
    mvn = require_tool("mvn", MAVEN_ADVICE)
    home.mkdir(parents=True, exist_ok=True)
    if libs.exists():
        shutil.rmtree(libs)
    pom = home / "pom.xml"
    pom.write_text(_POM.format(kafka=version, log4j=LOG4J_VERSION), encoding="utf-8")
    say(f"fetching Apache Kafka {version} from Maven Central into {libs} (first run only)")
    cmd = [
        mvn, "-B", "-f", str(pom), f"{DEPENDENCY_PLUGIN}:copy-dependencies",
        "-DincludeScope=runtime", f"-DoutputDirectory={libs}",
    ]
    tail: list[str] = []
    downloaded = 0
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail = [*tail[-30:], line]
            if "Downloaded from" in line and ".jar (" in line:
                downloaded += 1
                name = line.rsplit("/", 1)[-1].split(" ")[0]
                say(f"  [{downloaded:3d}] {name}")
        code = proc.wait()
    if code != 0:
        text = "\n".join(tail)
        hint = ""
        if "Could not transfer" in text or "Could not resolve" in text or "UnknownHost" in text:
            hint = (
                "Maven could not download from Maven Central: check the network or a proxy "
                "(~/.m2/settings.xml), or set KAFKA_BOOTSTRAP_SERVERS to use an existing cluster. "
            )
        raise SetupError(f"{hint}mvn failed (exit {code}); last lines:\n{text}")
    jars = sorted(libs.glob("*.jar"))
    marker.write_text("\n".join(j.name for j in jars) + "\n", encoding="utf-8")
    say(f"Kafka {version} ready: {len(jars)} jars in {libs}")
    return libs


def require_tool(name: str, advice: str) -> str:
    """Return the path of a command-line tool, or raise SetupError with install advice."""
    path = shutil.which(name)
    if not path:
        raise SetupError(f"'{name}' not found on PATH. {advice}")
    return path
