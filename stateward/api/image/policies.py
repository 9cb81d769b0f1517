"""Glance's policy rules (its names), with defaults for Stateward's roles."""

from stateward.identity.policy import register, rule

register(
    [
        rule("get_images", "rule:admin_or_reader", "List images."),
        rule("get_image", "rule:admin_or_reader", "Show an image."),
        rule("add_image", "rule:admin_or_member", "Create an image."),
        rule("modify_image", "rule:admin_or_member", "Update an image (its owner)."),
        rule("delete_image", "rule:admin_or_member", "Delete an image (its owner)."),
        rule("upload_image", "rule:admin_or_member", "Upload image data (its owner)."),
        rule("download_image", "rule:admin_or_reader", "Download image data."),
        rule("deactivate", "rule:admin", "Deactivate an image."),
        rule("reactivate", "rule:admin", "Reactivate an image."),
        rule("get_members", "rule:admin_or_reader", "List an image's members."),
        rule("get_member", "rule:admin_or_reader", "Show an image member."),
        rule("add_member", "rule:admin_or_member", "Share an image with a project."),
        rule("modify_member", "rule:admin_or_member", "Accept or reject a shared image."),
        rule("delete_member", "rule:admin_or_member", "Stop sharing an image with a project."),
    ]
)
