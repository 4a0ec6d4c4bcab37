from django.db import migrations

RESOURCES = [
    ("Emergency services", "Call 911 if you or someone else is in immediate danger", "", [], True),
    ("988 Suicide & Crisis Lifeline", "Call or text 988, any time", "https://988lifeline.org", [], False),
    ("Crisis Text Line", "Text HOME to 741741", "https://www.crisistextline.org", [], False),
    (
        "National Domestic Violence Hotline",
        "Call 800-799-7233 or text START to 88788",
        "https://www.thehotline.org",
        ["abuse_danger", "harm_others"],
        False,
    ),
]


def seed(apps, schema_editor):
    SupportResource = apps.get_model("moderation", "SupportResource")
    if SupportResource.objects.exists():
        return
    for order, (name, how, url, categories, immediate) in enumerate(RESOURCES):
        SupportResource.objects.create(
            name=name, how=how, url=url, categories=categories, immediate_danger=immediate,
            order=order,
        )


class Migration(migrations.Migration):
    dependencies = [("moderation", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
