#!/usr/bin/env python3
"""Generate the skills dictionary, role catalogue and skill adjacency from O*NET.

Run by hand; the outputs are committed:

    scripts/gen-data.py [--onet DIR] [--out DIR]

Inputs: DIR/Technology Skills.txt, DIR/Occupation Data.txt and DIR/Tools
Used.txt (O*NET, tab separated, default ../shared/data/onet) and
data/aliases.tsv, data/knowledge.tsv, data/certifications.tsv and
data/fieldskills.tsv (hand-written).
Outputs: data/skills.tsv, data/roles.tsv, data/adjacency.tsv, data/titles.tsv,
data/occupations.tsv (the last two from O*NET 29.3 Alternate Titles, Job Zones,
Education, Training, and Experience and Related Occupations).  The format of
each file is described in data/README.md.  Output is sorted, so running the
script twice gives the same bytes.

This includes information from the O*NET Database by the U.S. Department of
Labor, Employment and Training Administration (USDOL/ETA). Used under the CC BY
4.0 license. O*NET(R) is a trademark of USDOL/ETA.

Python 3 standard library only.
"""

import argparse
import collections
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# Ordinary English words, to tell a product named by an everyday word
# ("INTERACT", "HER", "FastEST", "After the Deadline") from a real product
# name.  Debian package wamerican; read by the generator only, never at
# runtime.
WORDLIST = "/usr/share/dict/american-english"

# Kind of a hand entry when its fifth column is empty: methodologies are
# practices, human languages are languages, everything else is knowledge.
KIND_OF_CATEGORY = {"methodology": "practice", "human-language": "language"}
KINDS = ("knowledge", "practice", "language")

# Words that make a phrase of ordinary words read as prose, not as a name.
FUNCTION_WORDS = set("""
a an the of for and or to in on with by at from after before into over under
about my your our their his her its this that these those is are be not no all
""".split())
ROOT = os.path.dirname(HERE)

# Longest form kept (normalised bytes).
MAX_FORM = 40

# Suffixes O*NET appends to product names that nobody writes in prose.
TRAILING_WORDS = ("software", "software suite", "suite")

# Multi-word vendor prefixes that the first-word rule below cannot find.
VENDOR_PREFIXES = (
    "amazon web services aws", "amazon web services", "the mathworks",
    "dassault systemes", "red hat", "sas institute", "hewlett packard",
    "hewlett-packard", "thomson reuters", "national instruments",
    "bentley systems", "siemens plm software", "esri", "ibm rational",
)

# Common words of work English that O*NET descriptions miss but that are
# product names too ("Excel", "Slack", "Zoom").  A derived single-word form in
# this set, or found lowercase in the O*NET occupation descriptions, is kept
# only with the '^' marker (matched when capitalised).
EXTRA_COMMON = set("""
excel word access outlook project teams zoom slack office sheets docs forms
drive spark swift rust chef puppet make express spring go bootstrap basic
visual studio center central point page pages time works pro plus lab labs
studio cloud one suite manager server express designer builder desktop mobile
connect insight insights edge compass pilot navigator explorer vision view
draw paint notes note keynote numbers pages photos camera mail calendar maps
meet chat classroom sites jam keep tasks contacts delve stream planner sway
yammer bookings lens fusion inventor maya vault factory dynamics ace ally
atlas beacon bridge canvas catalyst elite encore focus horizon matrix
nexus oasis orion prism quest rally scout sentinel sigma spectrum summit
target vista zenith simple smart quick easy
""".split())


# Skill -> skills it implies, written by hand: frameworks imply their language,
# managed services their platform.  Names must be canonical names in skills.tsv.
HAND_ADJACENCY = """
Django: Python
Flask: Python
FastAPI: Python
pandas: Python
NumPy: Python
SciPy: Python
scikit-learn: Python, Machine learning
PyTorch: Python, Deep learning, Machine learning
TensorFlow: Python, Deep learning, Machine learning
Keras: Python, Deep learning, Machine learning
Jupyter: Python
pytest: Python
React: JavaScript, HTML, CSS
React Native: React, JavaScript, Mobile development
Redux: React, JavaScript
Next.js: React, JavaScript
Angular: TypeScript, JavaScript, HTML, CSS
Vue.js: JavaScript, HTML, CSS
Svelte: JavaScript
jQuery: JavaScript
Node.js: JavaScript
Express: Node.js, JavaScript
TypeScript: JavaScript
Webpack: JavaScript
Jest: JavaScript
Spring: Java
Spring Boot: Spring, Java
Hibernate: Java, SQL
Java EE: Java
JSP: Java
JUnit: Java
Maven: Java
Gradle: Java
Kotlin: Java
Scala: Java
Apache Spark: Big data
Apache Hadoop: Big data
Apache Kafka: Message queues
Ruby on Rails: Ruby
Laravel: PHP
Symfony: PHP
ASP.NET: .NET, C#
.NET Core: .NET, C#
Entity Framework: .NET, C#
Xamarin: C#, Mobile development
Flutter: Dart, Mobile development
Kubernetes: Docker, Containers
OpenShift: Kubernetes, Docker
Helm: Kubernetes
Docker: Containers
Amazon EC2: AWS
Amazon S3: AWS
AWS Lambda: AWS, Serverless
AWS CloudFormation: AWS, Infrastructure as code
DynamoDB: AWS, NoSQL
Amazon Redshift: AWS, SQL
BigQuery: Google Cloud Platform, SQL
Terraform: Infrastructure as code
Ansible: Infrastructure as code
PostgreSQL: SQL
MySQL: SQL
MariaDB: SQL
Microsoft SQL Server: SQL
Oracle Database: SQL
PL/SQL: SQL, Oracle Database
T-SQL: SQL, Microsoft SQL Server
MongoDB: NoSQL
Cassandra: NoSQL
Redis: NoSQL
Jenkins: CI/CD
GitLab: Git
GitHub: Git
Bitbucket: Git
Travis CI: CI/CD
CircleCI: CI/CD
Scrum: Agile
Kanban: Agile
TDD: Unit testing
Selenium: Test automation
Cypress: Test automation
Deep learning: Machine learning
Natural language processing: Machine learning
Computer vision: Machine learning
Swift: iOS
Objective-C: iOS
Kotlin: Android
Power BI: Business intelligence
Tableau: Business intelligence
"""


def normalise(text):
    """Same normalisation as skillmatch.c: ASCII lowercase; whitespace, '-'
    and '_' become one space; trimmed."""
    out = []
    space = True
    for ch in text:
        if ch in " \t\r\n\f\v-_":
            if not space:
                out.append(" ")
            space = True
            continue
        out.append(ch.lower() if "A" <= ch <= "Z" else ch)
        space = False
    return "".join(out).strip()


def english_words(path):
    """Lowercase entries of the system word list (proper nouns such as
    "Java" are capitalised there, so they do not count as ordinary words)."""
    if not os.path.exists(path):
        sys.exit("%s: missing; install the word list with 'apt-get install -y "
                 "wamerican' (needed to drop O*NET products named by ordinary "
                 "words), or pass --words FILE" % path)
    with open(path, encoding="utf-8", errors="replace") as f:
        return {w for w in (line.strip() for line in f) if re.fullmatch(r"[a-z]+", w)}


def read_tsv(path):
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        rows = [line.rstrip("\r\n").split("\t") for line in f]
    return rows[0], rows[1:]


def simplify_category(title):
    """'Data base management system software' -> 'database management system'."""
    t = title
    t = re.sub(r"\bsoftware\b", "", t)
    # Drop the upper-case acronym O*NET repeats after a phrase (CAD, CRM, ERP).
    t = re.sub(r"\b[A-Z][A-Z0-9/]+\b", "", t)
    t = t.lower().replace("data base", "database")
    t = re.sub(r"[^a-z0-9]+", " ", t).strip()
    return t.replace(" ", "-") or "other"


def common_words(occupations):
    words = collections.Counter()
    for _code, title, desc in occupations:
        for w in re.findall(r"[a-z][a-z0-9]+", title.lower() + " " + desc):
            words[w] += 1
    # Only lowercase occurrences count, so proper nouns in descriptions do not
    # mark product names as common; the whole description is lowercased for
    # titles only.
    lower_only = collections.Counter()
    for _code, _title, desc in occupations:
        for w in re.findall(r"\b[a-z][a-z0-9]+\b", desc):
            lower_only[w] += 1
    return set(lower_only) | EXTRA_COMMON


def acronym_fits(acro, words):
    """At least half of the acronym's letters are, in order, initials of the
    words before it ("Extensible markup language XML": m, l)."""
    letters = [c for c in acro.lower() if c.isalpha()]
    initials = [w[0].lower() for w in words if w]
    hits = 0
    i = 0
    for c in letters:
        j = i
        while j < len(initials) and initials[j] != c:
            j += 1
        if j < len(initials):
            hits += 1
            i = j + 1
    return letters and hits * 2 >= len(letters)


def single_word_marker(word, hot, common, full=False):
    """Marker for a one-word form, None to drop it.

    Plain capitalised words ("Learn", "Professional", "Scheme") are product
    names only inside a skills list unless O*NET marks the technology hot;
    camel case, capitals and digits ("AutoCAD", "JIRA", "S3") look like
    products anywhere."""
    n = normalise(word)
    if re.fullmatch(r"[0-9.]+", n):
        return None
    if n in common or len(n) == 1:
        if hot:
            return "?"
        return "?" if full else None
    if hot or re.search(r"[A-Z0-9]", word[1:]) or not word[:1].isalpha():
        return ""
    return "?" if full else None


def derive_forms(name, vendors, common, hot=False):
    """Everyday surface forms of an O*NET product name.

    Returns (forms, short) where forms maps normalised form -> marker ('' plain,
    '^' capitalised only) and short is the preferred display form or None."""
    forms = {}
    short = None
    base = name.strip()
    for suffix in TRAILING_WORDS:
        if base.lower().endswith(" " + suffix):
            base = base[: -len(suffix) - 1].strip()
            break
    words = base.split()
    if not words:
        return forms, None
    descriptive = all(not any(c.isupper() for c in w) for w in words)

    def add(form, display=None):
        nonlocal short
        n = normalise(form)
        if len(n) < 2 or not re.search(r"[a-z0-9]", n):
            return
        toks = n.split()
        alpha = [t for t in toks if re.fullmatch(r"[a-z]+", t)]
        if len(toks) == 1:
            m = single_word_marker(form, hot, common)
            if m is not None:
                forms.setdefault(n, m)
        elif len(toks) > 1 and len(alpha) == len(toks) and all(t in common for t in toks):
            # A phrase of plain words ("Production Planning") is prose, not a
            # product; keep it only when it is the full O*NET name.
            return
        else:
            forms[n] = ""
        if display is not None:
            short = display

    full = normalise(name)
    full_toks = full.split()
    if re.fullmatch(r"[0-9 .]+", full):
        pass  # "2000": a number, not a name
    elif len(full_toks) == 1:
        # "Professional", "LEAD", "J": products named by an everyday word
        # or a letter count only inside a skills list.
        m = single_word_marker(name, hot, common, full=True)
        if m is not None:
            forms[full] = m
    elif all(re.fullmatch(r"[a-z]+", t) and t in common for t in full_toks):
        pass  # "Programming languages", "Word processing": prose, no product
    elif not hot and all(re.fullmatch(r"[A-Za-z][a-z]*", w) for w in name.split()):
        # Plain words ("After the Deadline") name a product only when
        # capitalised.
        forms[full] = "^"
    else:
        forms[full] = ""
    if descriptive:
        # Generic descriptions such as "Spreadsheet software": only the full
        # name is matchable.
        return forms, None
    add(base, base if base != name else None)

    # Vendor prefix: a multi-word one from the list, else a first word that
    # starts several product names and is not a common word.
    rest = None
    low = base.lower()
    for v in VENDOR_PREFIXES:
        if low.startswith(v + " "):
            rest = base[len(v) + 1:].strip()
            break
    # A product name after the vendor starts with a capital, a digit or a
    # sign (".NET"); "Extensible markup language XML" has no vendor.
    if rest is None and len(words) >= 2 and words[0].lower() in vendors \
            and not words[1].islower():
        rest = " ".join(words[1:])
    if rest:
        add(rest, rest)

    # Trailing acronym: "Structured query language SQL", "Amazon Simple
    # Storage Service S3".  Short acronyms collide with everyday abbreviations,
    # so those of three characters or fewer are kept for hot technologies only
    # (decided by the caller through the returned form).
    for phrase in filter(None, (rest, base)):
        pw = phrase.split()
        if len(pw) >= 3 and re.fullmatch(r"[A-Z][A-Z0-9]*[A-Z0-9]", pw[-1]) \
                and any(c.isalpha() for c in pw[-1]) and len(pw[-1]) <= len(pw) + 1 \
                and acronym_fits(pw[-1], pw[:-1]):
            acro = pw[-1]
            n = normalise(acro)
            # Acronyms of obscure products ("INTERACT", "VIZ") are words too.
            forms.setdefault(n, "" if hot and n not in common else "?")
            forms[n] += "#"  # acronym flag, stripped by the caller
            expansion = " ".join(pw[:-1])
            add(expansion)
            short = acro
            break
    return forms, short


# --- job titles and occupations (data/titles.tsv, data/occupations.tsv) ---

# Words that say how far along someone is, not which occupation: dropped from
# title keys on both sides (here and in plugins/common/roles.c), so "Senior
# Data Engineer" and "Lead Carpenter" find "data engineer" and "carpenter".
TITLE_LEVEL_WORDS = {"senior", "sr", "junior", "jr", "lead", "i", "ii", "iii", "iv", "s"}

# Upper bound in months of each O*NET "Related Work Experience" category
# (RW, 1-11): none, up to 1 month, 1-3 months, 3-6 months, 6-12 months,
# 1-2 years, 2-4, 4-6, 6-8, 8-10 years, over 10 years (no bound).
RW_RANGES = {1: (0, 0), 2: (0, 1), 3: (1, 3), 4: (3, 6), 5: (6, 12), 6: (12, 24),
             7: (24, 48), 8: (48, 72), 9: (72, 96), 10: (96, 120), 11: (120, 0)}


def title_word(w):
    """Singular of one lower-case title word: "ies" -> "y"; a final "s"
    dropped unless after s, u or i (boss, status, analysis)."""
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("s") and w[-2] not in "sui":
        return w[:-1]
    return w


def title_key(text):
    """The normalised form of a job title, the same as roles.c computes:
    ASCII letters and digits lowercased, '&' read as "and", anything else a
    word break, level words dropped, each word singular."""
    words = re.findall(r"[a-z0-9]+", text.lower().replace("&", " and "))
    return " ".join(title_word(w) for w in words if w not in TITLE_LEVEL_WORDS)


def title_forms(title):
    """"Emergency Room Nurse (ER Nurse)" -> the title without the
    parenthesis and the parenthesis alone, when that is a title too: an
    acronym ("CFO") or two words or more; one word ("(General)",
    "(Welding)") only qualifies the title."""
    m = re.fullmatch(r"(.*?)\s*\(([^()]*)\)\s*(.*)", title)
    if not m:
        return [title]
    forms = [m.group(1) + " " + m.group(3)]
    inner = m.group(2).strip()
    if len(inner.split()) >= 2 or re.fullmatch(r"[A-Z][A-Z0-9]+", inner):
        forms.append(inner)
    return forms


def gen_titles(onet_dir, out_dir):
    """titles.tsv: normalised job title -> O*NET occupations, from the
    Alternate Titles (alternate and short titles) and the occupations' own
    titles; occupations.tsv: each occupation's title, Job Zone, usual related
    work experience and closest related occupations."""
    _, alt_rows = read_tsv(os.path.join(onet_dir, "Alternate Titles.txt"))
    _, occ_rows = read_tsv(os.path.join(onet_dir, "Occupation Data.txt"))
    occ_title = {r[0]: r[1] for r in occ_rows if len(r) >= 2}
    own = collections.defaultdict(set)    # key -> codes whose own title it is
    alt = collections.defaultdict(set)    # key -> codes listing it
    for code, title in occ_title.items():
        head = title.replace(", All Other", "")
        own[title_key(head)].add(code)
        # "Secondary School Teachers, Except Special ...": the part before
        # the comma is what people write; not in a list of occupations
        # ("Bookkeeping, Accounting, and Auditing Clerks").
        first, _, rest = head.partition(",")
        if rest and (head.count(",") == 1 or rest.split()[0] in ("Except", "Including")):
            alt[title_key(first)].add(code)
    for r in alt_rows:
        if len(r) < 3 or r[0] not in occ_title:
            continue
        for t in title_forms(r[2]) + ([r[3]] if len(r) > 3 and r[3] else []):
            alt[title_key(t)].add(r[0])
    # Occupations' own titles: first for their key.
    keys = {}
    for k in set(own) | set(alt):
        if not k:
            continue
        first = sorted(own.get(k, ()))
        keys[k] = first + sorted(alt.get(k, set()) - set(first))
    with open(os.path.join(out_dir, "titles.tsv"), "w", encoding="utf-8", newline="\n") as out:
        out.write("# Generated by scripts/gen-data.py from O*NET 29.3 Alternate Titles and Occupation Data; do not edit.\n")
        out.write("# This includes information from the O*NET Database by the U.S. Department of Labor, Employment and Training Administration (USDOL/ETA). Used under the CC BY 4.0 license. O*NET(R) is a trademark of USDOL/ETA.\n")
        out.write("# title (normalised: lower case, level words dropped, singular)\tsoc codes ('|' separated, the occupation whose own title it is first)\n")
        for k in sorted(keys):
            out.write("%s\t%s\n" % (k, "|".join(keys[k])))

    zone = {}
    _, jz_rows = read_tsv(os.path.join(onet_dir, "Job Zones.txt"))
    for r in jz_rows:
        if len(r) >= 3 and r[2].isdigit():
            zone[r[0]] = int(r[2])
    rw = collections.defaultdict(dict)
    _, ete_rows = read_tsv(os.path.join(onet_dir, "Education, Training, and Experience.txt"))
    for r in ete_rows:
        if len(r) >= 8 and r[4] == "RW" and r[6].isdigit():
            rw[r[0]][int(r[6])] = float(r[7])
    related = collections.defaultdict(list)
    _, rel_rows = read_tsv(os.path.join(onet_dir, "Related Occupations.txt"))
    for r in rel_rows:
        if len(r) >= 6 and r[4] == "Primary-Short" and r[2] in occ_title:
            related[r[0]].append((int(r[5]), r[2]))
    with open(os.path.join(out_dir, "occupations.tsv"), "w", encoding="utf-8", newline="\n") as out:
        out.write("# Generated by scripts/gen-data.py from O*NET 29.3 Occupation Data, Job Zones, Education, Training, and Experience and Related Occupations; do not edit.\n")
        out.write("# This includes information from the O*NET Database by the U.S. Department of Labor, Employment and Training Administration (USDOL/ETA). Used under the CC BY 4.0 license. O*NET(R) is a trademark of USDOL/ETA.\n")
        out.write("# soc_code\ttitle\tjob zone (1-5, 0 unknown)\tusual related work experience in months (min-max of the median worker; 0-0 none; max 0 after a min above 0: no bound; empty unknown)\trelated occupations ('|' separated, closest first)\n")
        for code in sorted(occ_title):
            months = ""
            shares = rw.get(code)
            if shares and sum(shares.values()) > 0:
                half = sum(shares.values()) / 2
                acc = 0
                for cat in sorted(shares):
                    acc += shares[cat]
                    if acc >= half:
                        months = "%d-%d" % RW_RANGES[cat]
                        break
            rel = "|".join(c for _, c in sorted(related.get(code, ())))
            out.write("%s\t%s\t%d\t%s\t%s\n" % (code, occ_title[code], zone.get(code, 0), months, rel))


# --- skills beyond software -------------------------------------------------
# Licences and certifications, and the skills of clinical, culinary, teaching,
# legal, sales, office and trade work: hand-written lists beside aliases.tsv
# and knowledge.tsv.  Tools and equipment come from O*NET Tools Used.

def add_field_arguments(ap):
    ap.add_argument("--certifications", default=os.path.join(ROOT, "data", "certifications.tsv"))
    ap.add_argument("--fieldskills", default=os.path.join(ROOT, "data", "fieldskills.tsv"))


def field_hand_files(args):
    return (args.certifications, args.fieldskills)


def weak_claim(skills, owner, form):
    """Does an O*NET technology hold form only as a short form that needs a
    skills list ('?'), such as an acronym ("Erosion Productivity Impact
    Calculator EPIC" -> "epic")?  An entry of the field lists then takes the
    form over instead of merging the technology into itself (Epic, the
    health record system)."""
    s = skills[owner]
    if form in s.get("yielded", ()):
        return True
    if s.get("hand") or s.get("tool") or normalise(owner) == form:
        return False
    if "?" not in s["forms"].get(form, ""):
        return False
    del s["forms"][form]
    s.setdefault("yielded", set()).add(form)
    return True


# Share of all occupations above which a tool is office or workshop furniture
# (personal computers, telephones, claw hammers) rather than a skill.
TOOL_MAX_SHARE = 0.03
# UNSPSC segments of Tools Used examples (the first two digits of the
# commodity code) whose tools are worked with, as the category of the tools.
# The others are left out: IT and office equipment (computers, printers,
# phones), vehicles, domestic, sports and audio-visual goods are what
# everyone uses, and what job ads offer as perks (espresso machines,
# shuttle buses).
TOOL_SEGMENTS = {
    "21": "equipment-agricultural", "22": "equipment-construction",
    "23": "equipment-industrial", "24": "equipment-material-handling",
    "27": "equipment-tools", "40": "equipment-hvac-plumbing",
    "41": "equipment-laboratory", "42": "equipment-medical",
    "46": "equipment-safety", "48": "equipment-food-service",
}
# A tool that O*NET lists for one occupation only is too specific to be
# written in resumes ("Halligan bars") and only grows the dictionary.
TOOL_MIN_OCCUPATIONS = 3


def singular(form):
    """Last word made singular, as a resume names one tool ("food
    processors" -> "food processor")."""
    head, _, last = form.rpartition(" ")
    for plural, one in (("ches", "ch"), ("shes", "sh"), ("sses", "ss"), ("xes", "x"),
                        ("ies", "y"), ("s", "")):
        if last.endswith(plural) and len(last) > len(plural) + 2 and not last.endswith("ss"):
            last = last[: -len(plural)] + one
            break
    return (head + " " + last).strip()


def add_tools(skills, onet_dir, common):
    """Tools and equipment of O*NET Tools Used as skills of kind knowledge.

    A tool used by more than TOOL_MAX_SHARE of the occupations or by fewer
    than TOOL_MIN_OCCUPATIONS, or outside TOOL_SEGMENTS, is dropped.  Forms: the name and its singular, and
    without an embedded acronym ("Global positioning system GPS receivers").
    A tool named by one word ("Forklifts", "Levels", "Platforms") is an
    everyday word, and in a resume's lists a heading ("Platforms: Linux"):
    only phrases are forms.  Forms a technology already has are left to it."""
    path = os.path.join(onet_dir, "Tools Used.txt")
    if not os.path.exists(path):
        sys.exit("%s: missing (O*NET 29.3 Tools Used)" % path)
    _, rows = read_tsv(path)
    occs = set()
    users = collections.defaultdict(set)
    segment = {}
    for r in rows:
        if len(r) < 5:
            continue
        occs.add(r[0])
        users[r[2].strip()].add(r[0])
        segment.setdefault(r[2].strip(), r[3][:2])
    taken = set()
    for s in skills.values():
        taken.update(s["forms"])
    names_lower = {k.lower() for k in skills}
    for name in sorted(users):
        cat = TOOL_SEGMENTS.get(segment[name])
        if cat is None or len(users[name]) > TOOL_MAX_SHARE * len(occs) \
                or len(users[name]) < TOOL_MIN_OCCUPATIONS \
                or name.lower() in names_lower:
            continue
        full = normalise(name)
        plain = normalise(" ".join(w for w in name.split()
                                   if not re.fullmatch(r"[A-Z][A-Z0-9]+", w)))
        forms = {}
        for f in (full, singular(full), plain, singular(plain)):
            if len(f) < 4 or f in taken or len(f) > MAX_FORM:
                continue
            if " " in f:
                forms[f] = ""
        if not forms:
            continue
        taken.update(forms)
        skills[name] = {"name": name, "short": None, "cat": cat, "hot": False,
                        "forms": forms, "onet": set(), "tool": True,
                        "kind": "knowledge"}


# --- knowledge areas of job ads ------------------------------------------------
# Architecture, development and engineering disciplines, protocols and fields
# of science and business that job ads name beside their technologies: a
# hand-written list beside knowledge.tsv.

def add_area_arguments(ap):
    ap.add_argument("--areas", default=os.path.join(ROOT, "data", "areas.tsv"))


def area_hand_files(args):
    return (args.areas,)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--onet", default=os.path.join(ROOT, "..", "shared", "data", "onet"))
    ap.add_argument("--out", default=os.path.join(ROOT, "data"))
    ap.add_argument("--aliases", default=os.path.join(ROOT, "data", "aliases.tsv"))
    ap.add_argument("--knowledge", default=os.path.join(ROOT, "data", "knowledge.tsv"))
    ap.add_argument("--words", default=WORDLIST)
    add_field_arguments(ap)
    add_area_arguments(ap)
    args = ap.parse_args()
    words = english_words(args.words)

    _, tech_rows = read_tsv(os.path.join(args.onet, "Technology Skills.txt"))
    _, occ_rows = read_tsv(os.path.join(args.onet, "Occupation Data.txt"))
    occupations = [(r[0], r[1], r[2] if len(r) > 2 else "") for r in occ_rows if len(r) >= 2]
    occ_title = {c: t for c, t, _ in occupations}
    common = common_words(occupations)
    # The commodity titles are the generic vocabulary of software ("user
    # interface", "data base"): none of their words names a product alone.
    for r in tech_rows:
        if len(r) >= 4:
            common.update(re.findall(r"\b[a-z][a-z0-9]+\b", r[3]))

    # --- O*NET technologies -------------------------------------------------
    tech_hot = {}
    tech_cat = {}
    occ_techs = collections.defaultdict(dict)   # soc -> name -> in_demand
    tech_demand = collections.defaultdict(bool)  # in demand for any occupation
    for r in tech_rows:
        if len(r) < 6:
            continue
        soc, name, _code, ctitle, hot, demand = r[:6]
        name = name.strip()
        tech_hot[name] = tech_hot.get(name, False) or hot == "Y"
        tech_cat.setdefault(name, simplify_category(ctitle))
        occ_techs[soc][name] = occ_techs[soc].get(name, False) or demand == "Y"
        tech_demand[name] = tech_demand[name] or demand == "Y"

    first_words = collections.Counter()
    for name in tech_hot:
        w = name.split()
        if len(w) >= 2:
            first_words[w[0]] += 1
    vendors = {w.lower() for w, n in first_words.items()
               if n >= 3 and (w[0].isupper() or w[0].isdigit()) and w.lower() not in common
               and w.lower() not in ("the", "a", "an")}

    def ordinary(form):
        """Every word is an ordinary English word and none is a vendor
        ("after the deadline", "her", "fastest"; not "google analytics")."""
        toks = form.split()
        return all(t in words and t not in vendors for t in toks)

    skills = {}          # key (O*NET name or hand canonical) -> dict
    for name in sorted(tech_hot):
        hot = tech_hot[name]
        forms, short = derive_forms(name, vendors, common, hot)
        full = normalise(name)
        clean = {}
        for f, m in forms.items():
            acro = "#" in m
            m = m.replace("#", "")
            # Short forms (an acronym, or what is left after the vendor:
            # "Allscripts PM", "Blackbaud CRM") are everyday abbreviations
            # unless the technology is hot.
            if (acro or f != full) and len(f) <= 3 and not hot:
                continue
            if ordinary(f) and " " not in f:
                # A product named by an everyday word is noise unless O*NET
                # rates it hot or in demand; then it needs capitals and a
                # skills list ("Tools: Bamboo, Jenkins").  A generic word left
                # after the vendor ("Epic Systems" -> "systems") names nothing.
                if not (hot or tech_demand[name]) or (f != full and f in common):
                    continue
                m = "?^"
            elif ordinary(f) and not (hot or tech_demand[name]):
                # A phrase of everyday words: a sentence fragment when it has
                # a function word ("After the Deadline"), else a technical
                # term that counts when capitalised ("Border Gateway Protocol").
                if set(f.split()) & FUNCTION_WORDS:
                    continue
                m = m or "^"
            clean[f] = m
        skills[name] = {"name": name, "short": short, "cat": tech_cat[name],
                        "hot": hot, "forms": clean, "onet": {name},
                        "kind": "knowledge"}

    # A derived form claimed by several technologies names none of them.
    owners = collections.defaultdict(set)
    for key, s in skills.items():
        for f in s["forms"]:
            owners[f].add(key)
    for key, s in skills.items():
        full = normalise(key)
        for f in list(s["forms"]):
            if f != full and len(owners[f]) > 1:
                del s["forms"][f]

    # --- hand aliases: merge or add --------------------------------------------
    form_owner = {}
    for key, s in skills.items():
        for f in s["forms"]:
            form_owner.setdefault(f, key)
    hand_lines = []
    add_tools(skills, args.onet, common)
    for hand_path in (args.aliases, args.knowledge) + field_hand_files(args) + area_hand_files(args):
        with open(hand_path, encoding="utf-8") as f:
            hand_lines += [(hand_path, n, line) for n, line in enumerate(f, 1)]
    for hand_path, lineno, line in hand_lines:
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) not in (4, 5):
            sys.exit("%s:%d: expected 4 or 5 columns" % (hand_path, lineno))
        canon, cat, hot, aliases = cols[:4]
        kind = cols[4] if len(cols) == 5 and cols[4] else KIND_OF_CATEGORY.get(cat, "knowledge")
        if kind not in KINDS:
            sys.exit("%s:%d: kind must be one of %s" % (hand_path, lineno, ", ".join(KINDS)))
        alias_list = [a for a in aliases.split("|") if a]
        plain = [normalise(a.lstrip("?^!")) for a in alias_list] + [normalise(canon)]
        targets = {form_owner[p] for p in plain if p in form_owner and form_owner[p] in skills
                   and not (hand_path in field_hand_files(args)
                            and weak_claim(skills, form_owner[p], p))}
        # An O*NET technology of the same name merges even when all its
        # forms were dropped as ordinary words ("Prolog").
        if canon in skills and not skills[canon].get("hand"):
            targets.add(canon)
        targets = sorted(targets)
        clash = [t for t in targets if skills[t].get("hand")]
        if clash:
            sys.exit("%s:%d: %s repeats a form of hand entry %s" % (hand_path, lineno, canon, clash[0]))
        entry = {"name": canon, "short": None, "cat": cat, "hot": hot == "Y",
                 "forms": {}, "onet": set(), "hand": True, "kind": kind}
        for t in targets:
            old = skills.pop(t)
            entry["onet"] |= old["onet"]
            if hot == "-":
                entry["hot"] = entry["hot"] or old["hot"]
            for fo, m in old["forms"].items():
                entry["forms"].setdefault(fo, m)
        for a in alias_list:
            marker = a[: len(a) - len(a.lstrip("?^!"))]
            entry["forms"][normalise(a.lstrip("?^!"))] = marker  # hand markers win
        cn = normalise(canon)
        if cn not in entry["forms"]:
            # The canonical name is a form too; an everyday word ("Lean",
            # "Boost") needs capitals and a skills list.
            entry["forms"][cn] = "?" if len(cn) <= 2 else "?^" if ordinary(cn) else ""
        if canon in skills:
            sys.exit("%s:%d: duplicate canonical %s" % (hand_path, lineno, canon))
        skills[canon] = entry
        for fo in entry["forms"]:
            form_owner[fo] = canon

    # --- display names ------------------------------------------------------
    by_display = collections.Counter()
    for s in skills.values():
        if not s.get("hand") and s["short"]:
            by_display[normalise(s["short"])] += 1
    taken = {normalise(s["name"]) for s in skills.values() if s.get("hand")}
    for s in skills.values():
        if not s.get("hand") and s["short"] and by_display[normalise(s["short"])] == 1 \
                and normalise(s["short"]) not in taken \
                and s["forms"].get(normalise(s["short"])) in ("", "^"):
            s["name"] = s["short"]
    # Final uniqueness of names and forms (first by sorted key wins).
    seen_names = set()
    seen_forms = {}
    final = []
    for key in sorted(skills, key=lambda k: (not skills[k].get("hand"), k)):
        s = skills[key]
        if s["name"].lower() in seen_names:
            s["name"] = key
        seen_names.add(s["name"].lower())
        forms = {}
        for fo, m in sorted(s["forms"].items()):
            # Forms longer than MAX_FORM are full product names nobody types
            # in a resume; they only make the automaton bigger and slower.
            if fo in seen_forms or "\t" in fo or "|" in fo or len(fo) > MAX_FORM:
                continue
            seen_forms[fo] = s["name"]
            forms[fo] = m
        s["forms"] = forms
        final.append(s)
    final.sort(key=lambda s: s["name"].lower())

    onet_to_name = {}
    for s in final:
        for o in s["onet"]:
            onet_to_name[o] = s["name"]

    with open(os.path.join(args.out, "skills.tsv"), "w", encoding="utf-8", newline="\n") as out:
        out.write("# Generated by scripts/gen-data.py from O*NET 28.2 Technology Skills, O*NET 29.3 Tools Used, data/aliases.tsv, data/knowledge.tsv, data/certifications.tsv and data/fieldskills.tsv; do not edit.\n")
        out.write("# This includes information from the O*NET Database by the U.S. Department of Labor, Employment and Training Administration (USDOL/ETA). Used under the CC BY 4.0 license. O*NET(R) is a trademark of USDOL/ETA.\n")
        out.write("# name\tcategory\thot\tforms ('|' separated; '?' list context only, '!' all capitals also, '^' capitalised only)\tkind (knowledge|practice|language)\n")
        for s in final:
            forms = "|".join(m + fo for fo, m in sorted(s["forms"].items()))
            out.write("%s\t%s\t%s\t%s\t%s\n" % (s["name"], s["cat"], "Y" if s["hot"] else "N", forms, s["kind"]))

    # --- roles --------------------------------------------------------------
    skill_hot = {s["name"]: s["hot"] for s in final}
    usage = collections.Counter()
    occ_skills = {}
    for soc, techs in occ_techs.items():
        names = {}
        for t, demand in techs.items():
            n = onet_to_name.get(t)
            if n:
                names[n] = names.get(n, False) or demand
        occ_skills[soc] = names
        usage.update(names.keys())
    with open(os.path.join(args.out, "roles.tsv"), "w", encoding="utf-8", newline="\n") as out:
        out.write("# Generated by scripts/gen-data.py from O*NET Occupation Data and Technology Skills; do not edit.\n")
        out.write("# This includes information from the O*NET Database by the U.S. Department of Labor, Employment and Training Administration (USDOL/ETA). Used under the CC BY 4.0 license. O*NET(R) is a trademark of USDOL/ETA.\n")
        out.write("# soc_code\ttitle\tskills ('|' separated canonical names, hot first, at most 40)\n")
        for soc in sorted(occ_skills):
            names = occ_skills[soc]
            if len(names) < 3 or soc not in occ_title:
                continue
            order = sorted(names, key=lambda n: (not skill_hot[n], not names[n], -usage[n], n.lower()))
            out.write("%s\t%s\t%s\n" % (soc, occ_title[soc], "|".join(order[:40])))

    # --- adjacency ----------------------------------------------------------
    # Rule: A implies B when A and B are in the same category, at least 90% of
    # the occupations listing A also list B, A is listed by at least 4
    # occupations, B by more than A (B is the more general skill) and B by at
    # most 15% of all occupations (ubiquitous office tools imply nothing).  At
    # most 5 per skill.  Skills of the hand table get only the hand list:
    # co-listing in an occupation does not make Java imply Python.
    n_occ = len(occ_skills)
    occ_sets = collections.defaultdict(set)
    for soc, names in occ_skills.items():
        for n in names:
            occ_sets[n].add(soc)
    implied = collections.defaultdict(dict)
    hand_names = {s["name"] for s in final if s.get("hand")}
    skill_cat = {s["name"]: s["cat"] for s in final}
    for a, socs_a in occ_sets.items():
        if len(socs_a) < 4 or a in hand_names:
            continue
        cands = []
        for b, socs_b in occ_sets.items():
            if b == a or len(socs_b) <= len(socs_a) or len(socs_b) > 0.15 * n_occ \
                    or skill_cat[b] != skill_cat[a]:
                continue
            both = len(socs_a & socs_b)
            if both >= 0.9 * len(socs_a):
                cands.append((-both / len(socs_a), -len(socs_b), b))
        for _, _, b in sorted(cands)[:5]:
            implied[a][b] = True
    names_lower = {s["name"].lower(): s["name"] for s in final}
    for lineno, line in enumerate(HAND_ADJACENCY.strip().splitlines(), 1):
        a, bs = line.split(":")
        a = a.strip()
        if a.lower() not in names_lower:
            sys.exit("HAND_ADJACENCY line %d: unknown skill %s" % (lineno, a))
        for b in bs.split(","):
            b = b.strip()
            if b.lower() not in names_lower:
                sys.exit("HAND_ADJACENCY line %d: unknown skill %s" % (lineno, b))
            implied[names_lower[a.lower()]][names_lower[b.lower()]] = True
    with open(os.path.join(args.out, "adjacency.tsv"), "w", encoding="utf-8", newline="\n") as out:
        out.write("# Generated by scripts/gen-data.py (O*NET co-occurrence + its HAND_ADJACENCY list); do not edit.\n")
        out.write("# This includes information from the O*NET Database by the U.S. Department of Labor, Employment and Training Administration (USDOL/ETA). Used under the CC BY 4.0 license. O*NET(R) is a trademark of USDOL/ETA.\n")
        out.write("# skill\timplied skills ('|' separated canonical names)\n")
        for a in sorted(implied, key=str.lower):
            bs = sorted(implied[a], key=str.lower)
            out.write("%s\t%s\n" % (a, "|".join(bs)))

    gen_titles(args.onet, args.out)


if __name__ == "__main__":
    main()
