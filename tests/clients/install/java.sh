#!/usr/bin/env bash
# Installs the Java client into the local Maven repository ($TXGATE_TOOLS/m2) and
# uses it as a user would: a fresh Maven project outside the repository (mktemp
# -d) that depends on dev.txgate:txgate-client and whose one class is the
# example of client/README.md's "Java" section (the ```java block after
# <!-- java-example -->), compiled and run against the live txgate at
# $TXGATE_ADDR. Called by tests/clients/run.sh.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
: "${TXGATE_ADDR:?TXGATE_ADDR must name a live txgate}"
m2=${TXGATE_TOOLS:-$HOME/.cache/txgate/tools}/m2
mvn=(mvn -B -q -Dstyle.color=never -Dmaven.repo.local="$m2")
version=$(sed -n 's|^  <version>\(.*\)</version>$|\1|p' "$root/client/java/pom.xml" | head -n 1)

(cd "$root/client/java" && "${mvn[@]}" -DskipTests install)

tmp=$(mktemp -d /tmp/txgate-java-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src/main/java"
awk '/^<!-- java-example -->$/ { armed = 1; next }
     armed && /^```java$/ { on = 1; next }
     on && /^```$/ { exit }
     on { print }' "$root/client/README.md" >"$tmp/src/main/java/Example.java"
[ -s "$tmp/src/main/java/Example.java" ] || { echo "install/java: no java-example in client/README.md" >&2; exit 1; }

cat >"$tmp/pom.xml" <<POM
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>example</groupId>
  <artifactId>txgate-java-install-check</artifactId>
  <version>1</version>
  <properties>
    <maven.compiler.release>17</maven.compiler.release>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <dependencies>
    <dependency>
      <groupId>dev.txgate</groupId>
      <artifactId>txgate-client</artifactId>
      <version>$version</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin><artifactId>maven-resources-plugin</artifactId><version>3.3.1</version></plugin>
      <plugin><artifactId>maven-compiler-plugin</artifactId><version>3.14.0</version></plugin>
      <plugin><artifactId>maven-dependency-plugin</artifactId><version>3.8.1</version></plugin>
    </plugins>
  </build>
</project>
POM

cd "$tmp"
"${mvn[@]}" compile dependency:build-classpath -Dmdep.outputFile=classpath.txt
out=$(java -cp "target/classes:$(cat classpath.txt)" Example)
echo "$out"
# The example's last query: two rows, the transfer applied.
grep -Eq '^1 55\.00 ' <<<"$out" && grep -Eq '^2 10\.00 [0-9]{4}-' <<<"$out" ||
  { echo "install/java: unexpected output of the example" >&2; exit 1; }
echo "install/java: dev.txgate:txgate-client:$version installed and used from $tmp"
