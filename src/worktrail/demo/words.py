"""The demo's vocabulary: people's names, what each workspace works on (the words its
projects, tasks and tags are named with), notes and comments, and the small helpers that
make names and field values out of them."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

from ..model import State


def _words(*parts: str) -> tuple[str, ...]:
    """A '|'-separated vocabulary, written compactly across several string literals."""
    return tuple(w.strip() for w in "|".join(parts).split("|") if w.strip())


FIRST_NAMES = _words(
    "Liam|Emma|Noah|Ava|Elijah|Sophia|James|Isabella|Mia|Benjamin|Charlotte|Lucas|Amelia",
    "Henry|Harper|Theodore|Evelyn|Jack|Luna|Levi|Camila|Alexander|Elena|Mateo|Aria|Daniel",
    "Nora|Mason|Hazel|Sebastian|Zoe|Ethan|Riley|Priya|Arjun|Yuki|Hiroshi|Fatima|Omar|Ingrid",
    "Lars|Chiara|Marco|Ana|Diego|Wei|Mei|Kwame|Amara|Sofia|Jonas|Leila|Tomás|Aisha|Nikolai",
)
LAST_NAMES = _words(
    "Smith|Johnson|Williams|Brown|Jones|Garcia|Miller|Davis|Rodriguez|Martinez|Lopez|Wilson",
    "Anderson|Taylor|Moore|Martin|Lee|Thompson|White|Harris|Clark|Lewis|Robinson|Walker|Young",
    "Allen|King|Wright|Scott|Nguyen|Patel|Sharma|Tanaka|Sato|Khan|Haddad|Larsen|Rossi|Bianchi",
    "Silva|Fernandes|Chen|Wang|Mensah|Okafor|Novak|Schmidt|Fischer|Petrov|Kowalski|Dubois",
)


@dataclass(frozen=True)
class Area:
    """What one workspace works on: the words its projects and tasks are named with."""

    name: str
    description: str
    weight: float  # share of the projects
    topics: tuple[str, ...]
    verbs: tuple[str, ...]
    objects: tuple[str, ...]
    tags: tuple[str, ...]


# One workspace per area, created in this order.
AREAS = (
    Area(
        "Engineering",
        "Product development: platform, apps and infrastructure.",
        3.0,
        _words("API Platform|Mobile App|Billing|Search|Payments|Security|Data Pipeline"),
        _words("Implement|Fix|Refactor|Test|Review|Deploy|Migrate|Document|Profile|Design"),
        _words(
            "login flow|API rate limits|database schema|search index|invoice export|SSO",
            "webhook retries|flaky build|backup job|error budget|release pipeline|cache layer",
            "push notifications|audit log|feature flags|dependency upgrades|on-call runbook",
        ),
        _words("backend|frontend|bug|tech-debt|infra|security|performance"),
    ),
    Area(
        "Marketing",
        "Campaigns, content and the website.",
        1.5,
        _words("Spring Campaign|Website|Newsletter|Product Launch|Brand|Events|SEO"),
        _words("Draft|Review|Publish|Plan|Schedule|Measure|Update|Write|Translate"),
        _words(
            "landing page|press release|launch blog post|newsletter issue|case study",
            "social calendar|webinar deck|ad copy|customer story|conference booth|keyword list",
        ),
        _words("content|social|launch|paid|events|web"),
    ),
    Area(
        "Design",
        "Product design, research and the design system.",
        1.0,
        _words("Design System|Onboarding|Dashboard|Mobile Redesign|User Research|Icons"),
        _words("Design|Prototype|Review|Sketch|Test|Polish|Update|Audit"),
        _words(
            "empty states|settings page|color tokens|onboarding screens|usability study",
            "icon set|dark mode|illustrations|interview guide|accessibility pass",
        ),
        _words("ux|ui|research|a11y|design-system"),
    ),
    Area(
        "Operations",
        "People, finance, legal and the office.",
        1.0,
        _words("Hiring|Office Move|Vendor Review|Budget|Compliance|Onboarding Ops|IT"),
        _words("Prepare|Review|Sign|Order|Schedule|Renew|Update|Collect|Approve"),
        _words(
            "hiring brief|offer letters|laptop orders|budget forecast|vendor contracts",
            "security training|travel policy|insurance renewal|payroll changes|SOC 2 evidence",
        ),
        _words("finance|legal|people|it|facilities"),
    ),
    Area(
        "Sales",
        "Pipeline, accounts and partnerships.",
        1.5,
        _words("EMEA Pipeline|Enterprise Deals|Partner Program|Renewals|Pricing|Sales Enablement"),
        _words("Prepare|Send|Follow up on|Negotiate|Update|Review|Qualify|Schedule"),
        _words(
            "proposal for Globex|pricing table|demo for Initech|renewal quote|partner contract",
            "pilot plan for Umbrella|QBR deck|battle card|pipeline report|reference call",
        ),
        _words("enterprise|smb|renewal|partner|pricing"),
    ),
)

SUFFIXES = _words("Q1|Q2|Q3|Q4|v2|Pilot|Refresh|Rollout|2.0|Phase 2")
SHARED_TAGS = _words("urgent|customer|blocked|quick-win|needs-review|q3")
NOTES = _words(
    "Context and acceptance criteria are in the linked doc.",
    "Scope agreed in Monday's planning.",
    "Customer asked for this twice; keep them posted.",
    "Depends on the vendor's answer.",
    "Keep it small: one iteration, then review.",
    "Numbers are in the shared sheet.",
    "First draft is done, needs a second pair of eyes.",
    "Estimate updated after the call.",
)
COMMENTS = _words(
    "Looks good to me.|Can we move this to next week?|Pushed a first version, feedback welcome.",
    "Blocked on the review from legal.|Done, closing the loop here.",
    "Please take a look when you have a minute.|Numbers are in the shared sheet.",
    "Let's discuss in the stand-up.|Updated the estimate after the call.",
    "The customer confirmed the new date.|I can pair on this tomorrow.",
    "Added screenshots to the doc.|This is bigger than we thought, splitting it up.",
    "Nice work!|Any update here?|Moved the meeting to Thursday.|Thanks, merged.",
    "I'll pick this up after lunch.|Should we loop in support?|Sent the draft for sign-off.",
)
COMMENT_EDITS = _words(
    " (edited: fixed the link)| Update: done.| Update: still waiting.| (typo fixed)",
    " Adding: see the thread in #general.",
)
CUSTOMERS = ("Globex", "Initech", "Umbrella", "Hooli", "Soylent")


def ascii_only(text: str) -> str:
    """`text` without its accents (and anything else outside ASCII): for e-mail addresses."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def project_name(rng: random.Random, area: Area) -> str:
    """A project name such as "Billing Q3"."""
    return f"{rng.choice(area.topics)} {rng.choice(SUFFIXES)}"


def task_name(rng: random.Random, area: Area) -> str:
    """A task name such as "Fix flaky build"."""
    return f"{rng.choice(area.verbs)} {rng.choice(area.objects)}"


def change_custom_fields(rng: random.Random, current: dict[str, object], area: Area) -> State:
    """`current` with one custom field set, changed or removed, its keys sorted."""
    custom = dict(current)
    what = rng.random()
    if what < 0.5:
        key = "story_points" if area.name == "Engineering" else "estimate_hours"
        custom[key] = rng.choice((1, 2, 3, 5, 8, 13) if key == "story_points" else (1, 2, 4, 8))
    elif what < 0.8:
        custom["sprint"] = f"Sprint {rng.randint(30, 42)}"
    elif custom and what < 0.9:
        del custom[rng.choice(sorted(custom))]
    else:
        custom["customer"] = rng.choice(CUSTOMERS)
    return {key: custom[key] for key in sorted(custom)}
